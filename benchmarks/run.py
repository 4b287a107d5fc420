"""Benchmark the book: execute every notebook, measure it, and write a report.

    python -m benchmarks.run                       # every notebook in book/, default device
    python -m benchmarks.run --device cuda         # forced onto the GPU; fails if anything is not
    python -m benchmarks.run --notebooks book/01_linear_models.ipynb --skip-baseline --skip-loaders
    python -m benchmarks.run --compare benchmarks/reports/<previous> --out benchmarks/reports/<name>

Each notebook runs in a fresh kernel, one after another, in its own folder (as the book build
runs them). Recorded per notebook: wall time (kernel start-up included), the kernel's peak RSS,
the device, CUDA use and every glued value. Then, unless skipped: the time-to-accuracy
comparison of the book's CNN with the source material's training (`time_to_accuracy`), and the
loader comparison (`loaders`), and the digit pad in the built book's chapter-5 page (`pages`: needs
`make book` first). Reports go to ``--out`` (default:
``benchmarks/reports/local/<date>-<device>``, which git ignores) as report.json, notebooks.csv,
glue.csv, epochs.csv and report.md.

With ``--device cuda`` every notebook runs with ``COURSE_DEVICE=cuda`` (so ``cu.fit``,
``cu.evaluate`` and ``cu.predict`` raise if a model or batch is on the CPU), and a notebook after
which ``torch.cuda.max_memory_allocated()`` is 0 counts as failed. The exit status is 1 if any notebook failed, else 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks import report as reports
from benchmarks.execute import execute_notebook
from benchmarks.time_to_accuracy import book_training_from_glue
from tools.chapter_format import ROOT, notebooks

DEFAULT_OUT = ROOT / "benchmarks" / "reports" / "local"
QUICK_SUBSET = 2_000


def all_notebooks() -> list[Path]:
    """Every notebook in book/, chapters and appendix pages, in file-name order."""
    return notebooks()


def machine_info(device: str) -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") and torch.cuda.is_available() else None
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "gpu": gpu,
        "load_average_start": os.getloadavg()[0],
    }


def _device_type(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device.split(":")[0]


def book_cnn_training(runs) -> dict | None:
    """The CNN chapter's per-epoch record from the notebooks just run, or None if none glued it."""
    for run in runs:
        try:
            return book_training_from_glue(run.glue, run.notebook) | {"notebook": run.notebook}
        except LookupError:
            continue
    return None


def _pages(args) -> dict:
    """The digit pad's speed and the page's sizes in headless Chromium, if the book is built."""
    from benchmarks import pages

    if args.skip_pages:
        return {"skipped": "--skip-pages"}
    if not (args.site / f"{pages.PAGE}.html").is_file():
        return {"skipped": f"no built book in {args.site} (make book, then run again)"}
    print("interactive pages in headless Chromium ...", flush=True)
    return pages.measure(args.site)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--notebooks", nargs="+", type=Path, help="default: every notebook in book/")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--compare", type=Path, help="a previous report (its folder or report.json)")
    parser.add_argument(
        "--out", type=Path, help=f"report folder (default: {DEFAULT_OUT.relative_to(ROOT)}/<date>-<device>)"
    )
    parser.add_argument("--baseline-epochs", type=int, default=10)
    parser.add_argument("--skip-baseline", action="store_true", help="no time-to-accuracy baseline")
    parser.add_argument("--skip-loaders", action="store_true", help="no loader comparison")
    parser.add_argument("--skip-pages", action="store_true", help="no measurement of the built book's pages")
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html", help="the built book, for the pages")
    parser.add_argument("--keep-executed", action="store_true", help="also save the executed notebooks")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="baseline and loaders on 2,000 images, once: checks the machinery, figures meaningless",
    )
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    args = parser.parse_args(argv)

    created = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    out = args.out or DEFAULT_OUT / f"{created:%Y%m%d-%H%M%S}-{args.device.replace(':', '')}"
    notebooks = [p.resolve() for p in args.notebooks] if args.notebooks else all_notebooks()
    report = {
        "schema": reports.SCHEMA,
        "created": created.isoformat(),
        "device": args.device,
        "quick": args.quick,
        "command": " ".join(["python -m benchmarks.run"] + (argv if argv is not None else sys.argv[1:])),
        "machine": machine_info(args.device),
    }
    wall_start, runs = time.perf_counter(), []
    for path in notebooks:
        print(f"executing {path.name} ...", flush=True)
        run = execute_notebook(
            path,
            args.device,
            timeout=args.timeout,
            save_to=out / "executed" / path.name if args.keep_executed else None,
        )
        runs.append(run)
        problems = f"; {'; '.join(run.problems)}" if run.problems else ""
        print(f"  {run.status}: {run.seconds:.1f} s, peak RSS {run.peak_rss_mb or 0:.0f} MiB{problems}", flush=True)
        if run.error:
            print("  " + run.error.splitlines()[-1], flush=True)
    report["notebooks"] = [r.to_dict() for r in runs]
    report["total_seconds"] = sum(r.seconds for r in runs)
    report["complete"] = {p.name for p in all_notebooks()} <= {r.notebook for r in runs}

    book = book_cnn_training(runs)
    if args.skip_baseline:
        report["time_to_accuracy"] = {"skipped": "--skip-baseline"}
    elif book is None:
        report["time_to_accuracy"] = {
            "skipped": "no executed notebook glued cnn_epoch_seconds and "
            "cnn_epoch_test_acc (is book/05_cnns.ipynb missing?)"
        }
    else:
        from benchmarks.time_to_accuracy import measure

        print(f"baseline training ({args.baseline_epochs} epochs) ...", flush=True)
        report["time_to_accuracy"] = measure(
            book, args.device, args.baseline_epochs, subset=QUICK_SUBSET if args.quick else None
        )
    if args.skip_loaders:
        report["loaders"] = {"skipped": "--skip-loaders"}
    else:
        from benchmarks.loaders import compare_loaders

        print("loader comparison ...", flush=True)
        device = "cuda" if _device_type(args.device) == "cuda" else "cpu"
        report["loaders"] = (
            compare_loaders(device=device, subset=QUICK_SUBSET, repeats=1)
            if args.quick
            else compare_loaders(device=device)
        )
    report["pages"] = _pages(args)
    report["wall_seconds"] = time.perf_counter() - wall_start
    report["machine"]["load_average_end"] = os.getloadavg()[0]
    report["targets"] = reports.check_targets(report, _device_type(args.device))
    if args.compare:
        report["comparison"] = reports.compare(report, reports.load(args.compare))
    reports.write(report, out)
    print(reports.to_markdown(report))
    print(f"Report written to {out}")
    failed = [r.notebook for r in runs if r.status != "ok" or r.problems]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
