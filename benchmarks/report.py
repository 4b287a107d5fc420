"""Benchmark reports: one JSON file with everything, CSV tables, a short Markdown summary, and the
comparison with a previous report.

A report is a plain dict (see `run.py`):
``{"schema", "created", "device", "machine", "notebooks": [...], "total_seconds", "wall_seconds",
"time_to_accuracy", "loaders", "targets", "comparison"}``; each notebook entry is a
`execute.NotebookRun` as a dict.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import math
from pathlib import Path

SCHEMA = 1
# Glued names shown in the Markdown summary (all of them are in the JSON and in glue.csv).
HEADLINE_GLUE = ("dense_*", "cnn_*", "*test_acc*", "*_params", "*_seconds")

# The issue's targets. "cpu" targets are for the 2-core laptop CPU, "cuda" ones for an H100.
TARGETS = {
    "cpu": [
        ("whole book, every notebook executed (s)", "total_seconds", "<=", 180.0),
        ("slowest notebook (s)", "max_notebook_seconds", "<=", 90.0),
        ("CNN training to 99.0% test accuracy (s)", "cnn_seconds_to_target", "<=", 45.0),
        ("speed-up over the baseline to its best accuracy (x)", "speedup", ">=", 3.0),
        ("digit pad: one prediction in headless Chromium (ms)", "pad_prediction_ms", "<", 50.0),
    ],
    "cuda": [
        (
            "CNN training to 99.0% test accuracy on the GPU, without the first step's start-up (s)",
            "cnn_seconds_to_target_after_first_step",
            "<",
            3.0,
        ),
    ],
}


def load(path) -> dict:
    """A report from its ``report.json`` or from the folder that holds it."""
    path = Path(path)
    return json.loads((path / "report.json" if path.is_dir() else path).read_text())


def figures(report: dict) -> dict:
    """The quantities that the targets are about, None where not measured."""
    runs = report.get("notebooks", [])
    tta = report.get("time_to_accuracy") or {}
    return {  # the whole book's time only when every notebook in book/ was run
        "total_seconds": report.get("total_seconds") if report.get("complete", True) else None,
        "max_notebook_seconds": max((r["seconds"] for r in runs), default=None),
        "cnn_seconds_to_target": (tta.get("book") or {}).get("seconds_to_target"),
        "cnn_seconds_to_target_after_first_step": (tta.get("book") or {}).get("seconds_to_target_after_first_step"),
        "speedup": tta.get("speedup"),
        "pad_prediction_ms": (report.get("pages") or {}).get("prediction_ms_median"),
    }


def check_targets(report: dict, device_type: str) -> list[dict]:
    """Each target of ``device_type`` ("cpu" or "cuda") with its measured value and whether it is met.

    A ``--quick`` report's baseline is not a comparison, so its speed-up is not judged.
    """
    values, rows = figures(report), []
    if report.get("quick"):
        values["speedup"] = None
    for name, key, op, limit in TARGETS.get(device_type, []):
        value = values.get(key)
        met = None if value is None else {"<=": value <= limit, "<": value < limit, ">=": value >= limit}[op]
        rows.append({"target": name, "limit": f"{op} {limit:g}", "value": value, "met": met})
    return rows


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def compare(current: dict, previous: dict) -> dict:
    """Per-notebook time and memory changes, the total, and changed glued numbers.

    Returns:
        ``{"previous": created, "notebooks": [{"notebook", "seconds_before", "seconds_after",
        "seconds_change", "peak_rss_mb_before", "peak_rss_mb_after", "status_before",
        "status_after"}], "total": {...}, "glue": [{"notebook", "name", "before", "after"}]}``.
        A notebook present in only one report has None on the other side.
    """
    before = {r["notebook"]: r for r in previous.get("notebooks", [])}
    after = {r["notebook"]: r for r in current.get("notebooks", [])}
    rows, glue = [], []
    for name in sorted(before.keys() | after.keys()):
        b, a = before.get(name, {}), after.get(name, {})
        rows.append(
            {
                "notebook": name,
                "seconds_before": b.get("seconds"),
                "seconds_after": a.get("seconds"),
                "seconds_change": _change(b.get("seconds"), a.get("seconds")),
                "peak_rss_mb_before": b.get("peak_rss_mb"),
                "peak_rss_mb_after": a.get("peak_rss_mb"),
                "status_before": b.get("status"),
                "status_after": a.get("status"),
            }
        )
        for key in sorted(b.get("glue", {}).keys() & a.get("glue", {}).keys()):
            old, new = b["glue"][key], a["glue"][key]
            if _is_number(old) and _is_number(new) and old != new:
                glue.append({"notebook": name, "name": key, "before": old, "after": new})
    total = {
        "seconds_before": previous.get("total_seconds"),
        "seconds_after": current.get("total_seconds"),
        "seconds_change": _change(previous.get("total_seconds"), current.get("total_seconds")),
    }
    old_fig, new_fig = figures(previous), figures(current)
    return {
        "previous": previous.get("created"),
        "notebooks": rows,
        "total": total,
        "glue": glue,
        "figures": {k: {"before": old_fig[k], "after": new_fig[k]} for k in new_fig},
    }


def _change(before, after) -> dict | None:
    if not (_is_number(before) and _is_number(after)):
        return None
    return {"seconds": after - before, "percent": 100 * (after - before) / before if before else None}


def _fmt(value, spec: str = ".1f") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if _is_number(value):
        return format(value, spec)
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v, ".4g") for v in value) + "]"
    return str(value)


def format_comparison(comparison: dict) -> str:
    """The comparison as a Markdown table (printed by `run.py --compare` and put in report.md)."""
    lines = [
        f"Compared with the report of {comparison['previous']}:",
        "",
        "| notebook | before (s) | after (s) | change | peak RSS before → after (MiB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in comparison["notebooks"] + [dict(comparison["total"], notebook="**total**")]:
        change = row.get("seconds_change")
        pct = change and change["percent"]
        delta = (
            "–" if change is None else f"{change['seconds']:+.1f} s" + (f" ({pct:+.0f}%)" if pct is not None else "")
        )
        status = ""
        if row.get("status_before") != row.get("status_after") and "status_after" in row:
            status = f" [{row['status_before'] or 'absent'} → {row['status_after'] or 'absent'}]"
        memory = (
            f"{_fmt(row.get('peak_rss_mb_before'), '.0f')} → {_fmt(row.get('peak_rss_mb_after'), '.0f')}"
            if "peak_rss_mb_after" in row
            else ""
        )
        lines.append(
            f"| {row['notebook']}{status} | {_fmt(row['seconds_before'])} | {_fmt(row['seconds_after'])} "
            f"| {delta} | {memory} |"
        )
    for key, pair in comparison.get("figures", {}).items():
        if pair["before"] is not None or pair["after"] is not None:
            lines.append(f"\n{key}: {_fmt(pair['before'], '.2f')} → {_fmt(pair['after'], '.2f')}")
    if comparison["glue"]:
        lines += ["", "Glued numbers that changed:", ""]
        lines += [
            f"- {g['notebook']} `{g['name']}`: {_fmt(g['before'], '.4g')} → {_fmt(g['after'], '.4g')}"
            for g in comparison["glue"]
        ]
    return "\n".join(lines)


def headline_glue(glue: dict, patterns=HEADLINE_GLUE) -> dict:
    """The glued values whose names match one of ``patterns`` (shell-style)."""
    return {k: v for k, v in glue.items() if any(fnmatch.fnmatchcase(k, p) for p in patterns)}


def to_markdown(report: dict) -> str:
    """A short human-readable summary of a report."""
    m = report["machine"]
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
    lines = [
        f"# Benchmark of {report['created']}",
        "",
        f"Device `{report['device']}`; {m.get('cpu')} ({m.get('cpu_count')} cores, {m.get('torch_threads')} "
        f"PyTorch threads){gpu}; torch {m.get('torch')}. Load average (1 min) "
        f"{_fmt(m.get('load_average_start'), '.2f')} at the start, "
        f"{_fmt(m.get('load_average_end'), '.2f')} at the end.",
        "",
        *(
            [
                "**A --quick run: the baseline and the loaders ran on a small subset; their figures are meaningless.**",
                "",
            ]
            if report.get("quick")
            else []
        ),
        "| notebook | status | seconds | CPU seconds | peak RSS (MiB) | GPU peak (MiB) | slowest cell (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in report["notebooks"]:
        gpu_mb = r["probe"]["cuda_max_memory_allocated"] / 2**20 if r["probe"].get("cuda_initialized") else None
        slow = r["slowest_cells"][0] if r["slowest_cells"] else None
        slow_text = f"{slow[1]:.1f} (cell {slow[0]}: `{slow[2]}`)" if slow else "–"
        status = r["status"] + ("; " + "; ".join(r["problems"]) if r["problems"] else "")
        if r.get("cpu_only") and str(report.get("device", "")).startswith("cuda"):
            status += f"; CPU only by design ({r['cpu_only']})"
        lines.append(
            f"| {r['notebook']} | {status} | {r['seconds']:.1f} | {_fmt(r['probe'].get('cpu_seconds'))} "
            f"| {_fmt(r['peak_rss_mb'], '.0f')} | {_fmt(gpu_mb, '.0f')} | {slow_text} |"
        )
    subset = "" if report.get("complete", True) else " (not every notebook)"
    cpu_total = sum(r["probe"].get("cpu_seconds", 0) for r in report["notebooks"])
    lines.append(f"| **total**{subset} | | {_fmt(report.get('total_seconds'))} | {cpu_total:.1f} | | | |")
    results = [(r["notebook"], k, v) for r in report["notebooks"] for k, v in headline_glue(r["glue"]).items()]
    if results:
        lines += ["", "## Glued results", "", "| notebook | name | value |", "| --- | --- | --- |"]
        lines += [f"| {nb} | `{k}` | {_fmt(v, '.4g')} |" for nb, k, v in results]
    lines += ["", "## Time to accuracy", ""] + _tta_markdown(report.get("time_to_accuracy") or {})
    lines += ["", "## Loaders", ""] + _loaders_markdown(report.get("loaders") or {})
    pages = report.get("pages") or {}
    lines += ["", "## Interactive pages", "", _pages_markdown(pages)]
    if report.get("targets"):
        lines += ["", "## Targets", "", "| target | limit | measured | met |", "| --- | --- | ---: | --- |"]
        lines += [
            f"| {t['target']} | {t['limit']} | {_fmt(t['value'], '.2f')} | {_fmt(t['met'])} |"
            for t in report["targets"]
        ]
    if report.get("comparison"):
        lines += ["", "## Comparison", "", format_comparison(report["comparison"])]
    return "\n".join(lines) + "\n"


def _tta_markdown(tta: dict) -> list[str]:
    if "skipped" in tta or not tta:
        return [f"Not measured: {tta.get('skipped', 'not run')}."]
    book, base = tta["book"], tta["baseline"]
    lines = [
        "| epoch | book: seconds | book: test accuracy | baseline: seconds | baseline: test accuracy |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for i in range(max(len(book["epoch_seconds"]), len(base["epoch_seconds"]))):
        cols = []
        for side in (book, base):
            has = i < len(side["epoch_seconds"])
            cols += [
                _fmt(side["epoch_seconds"][i] if has else None, ".2f"),
                _fmt(side["epoch_test_accuracy"][i] if has else None, ".4f"),
            ]
        lines.append(f"| {i + 1} | " + " | ".join(cols) + " |")
    lines += [
        "",
        f"- Book CNN: {_fmt(book.get('seconds_to_target'), '.1f')} s of training to {tta['target']:.1%} "
        f"test accuracy{_first_step_note(book)}; best {_fmt(book.get('best_accuracy'), '.4f')}.",
        f"- Baseline: best {_fmt(base.get('best_accuracy'), '.4f')} "
        f"after {_fmt(base.get('seconds_to_best'), '.1f')} s; "
        f"the book's CNN reached that accuracy after {_fmt(book.get('seconds_to_baseline_best'), '.1f')} s: "
        f"{_fmt(tta.get('speedup'), '.1f')}x faster.",
    ]
    return lines


def _first_step_note(book: dict) -> str:
    if book.get("seconds_to_target_after_first_step") is None:
        return ""
    return (
        f" ({book['seconds_to_target_after_first_step']:.2f} s without its first step, which took "
        f"{book['first_step_seconds']:.2f} s including start-up)"
    )


def _pages_markdown(pages: dict) -> str:
    if "skipped" in pages or not pages:
        return f"Not measured: {pages.get('skipped', 'not run')}."
    from benchmarks.pages import summary

    return summary(pages)


def _loaders_markdown(loaders: dict) -> list[str]:
    if "skipped" in loaders or not loaders:
        return [f"Not measured: {loaders.get('skipped', 'not run')}."]
    lines = [
        f"Seconds per epoch over {loaders['num_images']:,} training images (data only, median of "
        f"{loaders['repeats']}), on `{loaders['device']}`:",
        "",
        "| batch size | per-sample PIL pipeline (s) | tensors in memory (s) | ratio |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for row in loaders["rows"]:
        lines.append(
            f"| {row['batch_size']} | {row['pipeline_seconds']:.3f} | {row['tensor_seconds']:.4f} "
            f"| {row['pipeline_seconds'] / row['tensor_seconds']:.0f}x |"
        )
    return lines


def write(report: dict, out_dir) -> Path:
    """Write ``report.json``, ``notebooks.csv``, ``glue.csv``, ``epochs.csv`` and ``report.md`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    with open(out / "notebooks.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "notebook",
                "status",
                "seconds",
                "cells_seconds",
                "cpu_seconds",
                "peak_rss_mb",
                "device",
                "cuda_initialized",
                "cuda_max_memory_mb",
                "problems",
            ]
        )
        for r in report["notebooks"]:
            p = r["probe"] or {}
            writer.writerow(
                [
                    r["notebook"],
                    r["status"],
                    f"{r['seconds']:.3f}",
                    f"{r['cells_seconds']:.3f}",
                    _fmt(p.get("cpu_seconds"), ".3f"),
                    _fmt(r["peak_rss_mb"], ".1f"),
                    r["device"],
                    p.get("cuda_initialized"),
                    f"{p.get('cuda_max_memory_allocated', 0) / 2**20:.1f}",
                    "; ".join(r["problems"]),
                ]
            )
    with open(out / "glue.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["notebook", "name", "value"])
        for r in report["notebooks"]:
            for name, value in r["glue"].items():
                writer.writerow([r["notebook"], name, json.dumps(value)])
    with open(out / "epochs.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["training", "epoch", "seconds", "cumulative_seconds", "test_accuracy"])
        tta = report.get("time_to_accuracy") or {}
        for side in ("book", "baseline"):
            data = tta.get(side) or {}
            cumulative = 0.0
            for i, (s, acc) in enumerate(zip(data.get("epoch_seconds", []), data.get("epoch_test_accuracy", []))):
                cumulative += s
                writer.writerow([side, i + 1, f"{s:.3f}", f"{cumulative:.3f}", f"{acc:.4f}"])
    (out / "report.md").write_text(to_markdown(report))
    return out
