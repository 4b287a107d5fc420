"""The benchmark's machinery (benchmarks/): executor and glue parser, CUDA-use detector, reports,
time-to-accuracy bookkeeping and the loaders. No timing assertions: speed targets live in the
benchmark's report, not in tests."""

import json
from pathlib import Path

import nbformat
import pytest
import torch

import course_utils as cu
from benchmarks import report as reports
from benchmarks import run as run_cli
from benchmarks import time_to_accuracy as tta
from benchmarks.execute import NotebookRun, cuda_use_problems, execute_notebook, kernel_env, parse_glue_value
from benchmarks.loaders import compare_loaders, epoch_seconds, pil_batches, pil_dataset, tensor_batches
from tools import chapter_format as cf
from tools.chapter_format import BOOK


def _notebook(path: Path, *cells) -> Path:
    """Write a notebook of code cells; a cell is a source string or (source, tags)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cell in cells:
        source, tags = (cell, []) if isinstance(cell, str) else cell
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {}))
    nbformat.write(nb, path)
    return path


# --- executing a notebook and reading its glue -------------------------------------------------

GLUE_CELL = """
import numpy as np, torch
import course_utils as cu
from myst_nb import glue
cu.glue("a_float", np.float64(0.25), display=False)
cu.glue("an_int", torch.tensor(7), display=False)
cu.glue("a_string", "cuda:0", display=False)
cu.glue("a_list", [1.5, 2.0, 0.99], display=False)
glue("shown", 3.5)  # display=True: no mime prefix
glue("an_array", np.array([1.0, 2.0]), display=False)
print("not glue")
"""


def test_execute_notebook_reads_glue_time_and_memory(tmp_path):
    path = _notebook(tmp_path / "glued.ipynb", GLUE_CELL, "x = torch.ones(1000, 1000)")
    saved = tmp_path / "out" / "glued.ipynb"
    run = execute_notebook(path, "cpu", save_to=saved)
    assert run.status == "ok" and run.error is None and run.problems == []
    assert run.glue == {
        "a_float": 0.25,
        "an_int": 7,
        "a_string": "cuda:0",
        "a_list": [1.5, 2.0, 0.99],
        "shown": 3.5,
        "an_array": [1.0, 2.0],
    }
    assert 0 < run.cells_seconds <= run.seconds
    assert run.probe["torch_imported"] and not run.probe["cuda_initialized"]
    assert run.peak_rss_mb > 50  # a kernel that imported torch holds well over 50 MiB
    assert 0 < run.probe["cpu_seconds"]
    executed = nbformat.read(saved, as_version=4)
    assert len(executed.cells) == 2  # the memory probe cell is not left in the notebook
    assert any(o.get("text", "").startswith("not glue") for o in executed.cells[0].outputs)
    assert [cell[0] for cell in run.slowest_cells] == [0, 1] or [cell[0] for cell in run.slowest_cells] == [1, 0]


def test_execute_notebook_reports_a_failing_cell_and_stops_where_asked(tmp_path):
    path = _notebook(
        tmp_path / "fails.ipynb",
        "import course_utils as cu\ncu.glue('before', 1, display=False)",
        "raise ValueError('broken on purpose')",
        "cu.glue('after', 2, display=False)",
    )
    run = execute_notebook(path, "cpu")
    assert run.status == "error" and "broken on purpose" in run.error
    assert run.glue == {"before": 1} and run.probe["peak_rss_mb"] > 0
    assert execute_notebook(path, "cpu", stop_after=0).status == "ok"


@pytest.mark.parametrize(
    "text, value",
    [
        ("0.9912", 0.9912),
        ("12", 12),
        ("'cpu'", "cpu"),
        ("[1.0, 2.5]", [1.0, 2.5]),
        ("np.float64(0.5)", 0.5),
        ("array([1, 2])", [1, 2]),
        ("[0.1,\n 0.2]", [0.1, 0.2]),
        ("<Figure size 640x480 with 1 Axes>", "<Figure size 640x480 with 1 Axes>"),
    ],
)
def test_parse_glue_value(text, value):
    assert parse_glue_value({"text/plain": text}) == value


def test_parse_glue_value_without_text_is_none():
    assert parse_glue_value({"image/png": "iVBOR..."}) is None


# --- the CUDA-use detector ------------------------------------------------------------------------


def _run(probe, glue=None):
    return NotebookRun(notebook="x.ipynb", device="cuda", probe=probe, glue=glue or {})


GOOD_PROBE = {"torch_imported": True, "cuda_initialized": True, "cuda_max_memory_allocated": 123456}


def test_cuda_use_detector_accepts_a_notebook_that_used_the_gpu():
    assert cuda_use_problems(_run(GOOD_PROBE, {"cnn_device": "cuda:0", "other": "cpu"})) == []
    assert cuda_use_problems(_run(GOOD_PROBE, {"cnn_device": "GPU (NVIDIA H100)"})) == []


@pytest.mark.parametrize(
    "probe, glue, match",
    [
        ({}, None, "no probe result"),
        ({"torch_imported": False}, None, "never imported"),
        (
            {"torch_imported": True, "cuda_initialized": False, "cuda_max_memory_allocated": 0},
            None,
            "never initialised",
        ),
        (dict(GOOD_PROBE, cuda_max_memory_allocated=0), None, "max_memory_allocated"),
        (GOOD_PROBE, {"cnn_device": "cpu"}, "cnn_device = 'cpu'"),
    ],
)
def test_cuda_use_detector_flags_a_notebook_that_stayed_on_the_cpu(probe, glue, match):
    problems = cuda_use_problems(_run(probe, glue))
    assert problems and any(match in p for p in problems), problems


def test_kernel_env_forces_and_requires_the_device(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "stale")
    env = kernel_env("cuda")
    assert env["COURSE_DEVICE"] == "cuda"
    assert env["PYTHONPATH"].split(":")[0] == str(BOOK)
    env = kernel_env("cpu")
    assert env["COURSE_DEVICE"] == "cpu"
    env = kernel_env("auto")
    assert "COURSE_DEVICE" not in env


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks how a CPU-only run is caught")
def test_a_cpu_only_notebook_fails_a_forced_cuda_run(tmp_path):
    """On a machine without a GPU, a notebook that trains on the CPU is caught twice: cu.fit raises
    (COURSE_DEVICE is binding) and the probe sees that CUDA was never used."""
    path = _notebook(
        tmp_path / "cpu_only.ipynb",
        "import torch, course_utils as cu\nfrom torch import nn\n"
        "model = nn.Linear(4, 2)\n"
        "cu.fit(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),\n"
        "       torch.randn(32, 4), torch.randint(0, 2, (32,)), progress=False)",
    )
    run = execute_notebook(path, "cuda")
    assert run.status == "error" and "COURSE_DEVICE='cuda'" in run.error
    assert any("never initialised" in p for p in run.problems)


# --- reports ------------------------------------------------------------------------------------


def _notebook_entry(name, seconds, status="ok", glue=None, rss=900.0):
    return NotebookRun(
        notebook=name,
        device="cpu",
        status=status,
        seconds=seconds,
        cells_seconds=seconds - 1,
        probe={
            "peak_rss_mb": rss,
            "cpu_seconds": seconds / 2,
            "cuda_initialized": False,
            "cuda_max_memory_allocated": 0,
        },
        glue=glue or {},
        slowest_cells=[[2, 1.5, "import torch"]],
    ).to_dict()


def _report(notebooks, created="2026-01-01T00:00:00+00:00", tta_result=None):
    return {
        "schema": 1,
        "created": created,
        "device": "cpu",
        "complete": True,
        "machine": {
            "cpu": "Test CPU",
            "cpu_count": 2,
            "torch_threads": 2,
            "torch": "2.x",
            "gpu": None,
            "load_average_start": 0.5,
            "load_average_end": 0.7,
        },
        "notebooks": notebooks,
        "total_seconds": sum(n["seconds"] for n in notebooks),
        "time_to_accuracy": tta_result or {"skipped": "test"},
        "loaders": {"skipped": "test"},
    }


BOOK_EPOCHS = {"epoch_seconds": [10.0, 10.0, 10.0], "epoch_test_accuracy": [0.97, 0.985, 0.991]}
BASELINE_EPOCHS = {"epoch_seconds": [20.0, 20.0, 20.0], "epoch_test_accuracy": [0.94, 0.975, 0.97]}


def test_summarize_time_to_accuracy():
    result = tta.summarize(BOOK_EPOCHS, BASELINE_EPOCHS)
    assert result["book"]["seconds_to_target"] == 30.0 and result["baseline"]["seconds_to_target"] is None
    assert result["baseline"]["best_accuracy"] == 0.975 and result["baseline"]["seconds_to_best"] == 40.0
    assert result["book"]["seconds_to_baseline_best"] == 20.0  # 0.985 >= 0.975 after two epochs
    assert result["speedup"] == pytest.approx(2.0)
    never = tta.summarize({"epoch_seconds": [5.0], "epoch_test_accuracy": [0.9]}, BASELINE_EPOCHS)
    assert never["speedup"] is None and never["book"]["seconds_to_target"] is None


def test_time_to_accuracy_without_the_first_step():
    book = dict(BOOK_EPOCHS, first_step_seconds=1.5)
    assert tta.summarize(book, BASELINE_EPOCHS)["book"]["seconds_to_target_after_first_step"] == 28.5
    assert "seconds_to_target_after_first_step" not in tta.summarize(BOOK_EPOCHS, BASELINE_EPOCHS)["book"]
    glued = {"cnn_epoch_seconds": [1.0, 2.0], "cnn_epoch_test_acc": [0.98, 0.991], "cnn_first_step_seconds": 0.4}
    assert tta.book_training_from_glue(glued)["first_step_seconds"] == 0.4
    del glued["cnn_first_step_seconds"]
    assert tta.book_training_from_glue(glued)["first_step_seconds"] is None


def test_gpu_target_leaves_out_the_first_step():
    book = {"epoch_seconds": [1.5, 0.6, 0.6], "epoch_test_accuracy": [0.97, 0.985, 0.991], "first_step_seconds": 0.9}
    report = _report([_notebook_entry("05_cnns.ipynb", 30.0)], tta_result=tta.summarize(book, BASELINE_EPOCHS))
    (target,) = reports.check_targets(report, "cuda")
    assert "first step" in target["target"] and target["value"] == pytest.approx(1.8) and target["met"] is True
    report["targets"] = [target]
    assert "1.80 s without its first step, which took 0.90 s" in reports.to_markdown(report)
    book["first_step_seconds"] = None  # not recorded: not judged
    report = _report([_notebook_entry("05_cnns.ipynb", 30.0)], tta_result=tta.summarize(book, BASELINE_EPOCHS))
    assert reports.check_targets(report, "cuda")[0]["met"] is None


def test_a_notebook_declared_cpu_only_is_not_expected_on_the_gpu(tmp_path):
    path = _notebook(tmp_path / "numpy_only.ipynb", "import numpy as np\nx = np.ones(3).sum()")
    nb = nbformat.read(path, as_version=4)
    nb.metadata[cf.COURSE] = {cf.CPU_ONLY: "NumPy only, no model"}
    nbformat.write(nb, path)
    run = execute_notebook(path, "cuda")
    assert run.status == "ok" and run.problems == [] and run.cpu_only == "NumPy only, no model"
    report = _report([run.to_dict()])
    report["device"] = "cuda"
    assert "| numpy_only.ipynb | ok; CPU only by design (NumPy only, no model) |" in reports.to_markdown(report)
    undeclared = execute_notebook(_notebook(tmp_path / "plain.ipynb", "import numpy as np"), "cuda")
    assert undeclared.cpu_only is None and any("never imported" in p for p in undeclared.problems)


def test_seconds_to_counts_whole_epochs():
    assert tta.seconds_to([1.0, 2.0, 3.0], [0.5, 0.99, 0.995], 0.99) == 3.0
    assert tta.seconds_to([1.0], [0.5], 0.99) is None


def test_report_files_and_targets(tmp_path):
    report = _report(
        [
            _notebook_entry("01_a.ipynb", 40.0, glue={"cnn_test_acc": 0.991, "cnn_params": 20490, "ch1_x": 1.0}),
            _notebook_entry("02_b.ipynb", 95.0),
        ],
        tta_result=tta.summarize(BOOK_EPOCHS, BASELINE_EPOCHS),
    )
    report["targets"] = reports.check_targets(report, "cpu")
    met = {t["target"]: (t["value"], t["met"]) for t in report["targets"]}
    assert met["whole book, every notebook executed (s)"] == (135.0, True)
    assert met["slowest notebook (s)"] == (95.0, False)
    assert met["CNN training to 99.0% test accuracy (s)"] == (30.0, True)
    assert met["speed-up over the baseline to its best accuracy (x)"] == (pytest.approx(2.0), False)
    out = reports.write(report, tmp_path / "r")
    assert reports.load(out) == json.loads(json.dumps(report))
    csv_rows = (out / "notebooks.csv").read_text().splitlines()
    assert csv_rows[0].startswith("notebook,status,seconds") and csv_rows[2].startswith(
        "02_b.ipynb,ok,95.000,94.000,47.500"
    )
    assert "01_a.ipynb,cnn_test_acc,0.991" in (out / "glue.csv").read_text()
    epochs = (out / "epochs.csv").read_text().splitlines()
    assert epochs[3] == "book,3,10.000,30.000,0.9910" and epochs[4].startswith("baseline,1,20.000")
    md = (out / "report.md").read_text()
    assert (
        "| 02_b.ipynb | ok | 95.0 | 47.5 | 900 |" in md
        and "| **total** | | 135.0 | 67.5 |" in md
        and "| 01_a.ipynb | `cnn_test_acc` | 0.991 |" in md
    )
    assert "| 01_a.ipynb | `cnn_params` | 20,490 |" in md
    assert "ch1_x" not in md  # chapter-internal numbers stay in the JSON and CSV
    assert "| 3 | 10.00 | 0.9910 | 20.00 | 0.9700 |" in md and "2.0x faster" in md


def test_whole_book_target_needs_every_notebook():
    report = dict(_report([_notebook_entry("01_a.ipynb", 10.0)]), complete=False)
    total = next(t for t in reports.check_targets(report, "cpu") if t["target"].startswith("whole book"))
    assert total["value"] is None and total["met"] is None
    assert [t["limit"] for t in reports.check_targets(report, "cuda")] == ["< 3"]
    quick = _report([_notebook_entry("01_a.ipynb", 10.0)], tta_result=tta.summarize(BOOK_EPOCHS, BASELINE_EPOCHS))
    speedup = lambda r: next(t for t in reports.check_targets(r, "cpu") if t["target"].startswith("speed-up"))
    assert speedup(quick)["value"] == pytest.approx(2.0)
    assert speedup(dict(quick, quick=True))["value"] is None  # a --quick baseline is no comparison


def test_compare_reports():
    previous = _report(
        [_notebook_entry("01_a.ipynb", 10.0, glue={"acc": 0.98, "name": "x"}), _notebook_entry("02_b.ipynb", 20.0)],
        created="before",
    )
    current = _report(
        [
            _notebook_entry("01_a.ipynb", 15.0, glue={"acc": 0.99, "name": "y"}, rss=1000.0),
            _notebook_entry("03_c.ipynb", 5.0, status="error"),
        ],
        created="after",
    )
    comparison = reports.compare(current, previous)
    rows = {r["notebook"]: r for r in comparison["notebooks"]}
    assert rows["01_a.ipynb"]["seconds_change"] == {"seconds": 5.0, "percent": 50.0}
    assert rows["01_a.ipynb"]["peak_rss_mb_before"] == 900.0 and rows["01_a.ipynb"]["peak_rss_mb_after"] == 1000.0
    assert rows["02_b.ipynb"]["seconds_after"] is None and rows["02_b.ipynb"]["seconds_change"] is None
    assert rows["03_c.ipynb"]["status_before"] is None and rows["03_c.ipynb"]["status_after"] == "error"
    assert comparison["total"]["seconds_change"] == {"seconds": -10.0, "percent": pytest.approx(-100 / 3)}
    assert comparison["glue"] == [{"notebook": "01_a.ipynb", "name": "acc", "before": 0.98, "after": 0.99}]
    text = reports.format_comparison(comparison)
    assert "| 01_a.ipynb | 10.0 | 15.0 | +5.0 s (+50%) | 900 → 1000 |" in text
    assert "| 03_c.ipynb [absent → error] | – | 5.0 | – |" in text
    assert "`acc`: 0.98 → 0.99" in text


def test_run_cli_writes_a_report_compares_and_fails_on_errors(tmp_path, capsys):
    good = _notebook(tmp_path / "good.ipynb", "import course_utils as cu\ncu.glue('cnn_params', 1234, display=False)")
    bad = _notebook(tmp_path / "bad.ipynb", "1 / 0")
    common = ["--skip-baseline", "--skip-loaders", "--device", "cpu"]
    assert run_cli.main(["--notebooks", str(good), "--out", str(tmp_path / "first")] + common) == 0
    first = reports.load(tmp_path / "first")
    assert first["notebooks"][0]["glue"] == {"cnn_params": 1234} and first["complete"] is False
    assert first["time_to_accuracy"] == {"skipped": "--skip-baseline"}
    code = run_cli.main(
        [
            "--notebooks",
            str(good),
            str(bad),
            "--out",
            str(tmp_path / "second"),
            "--compare",
            str(tmp_path / "first" / "report.json"),
        ]
        + common
    )
    assert code == 1
    out = capsys.readouterr()
    assert "FAILED: bad.ipynb" in out.err and "Compared with the report of" in out.out
    second = reports.load(tmp_path / "second")
    assert [n["status"] for n in second["notebooks"]] == ["ok", "error"]
    assert {r["notebook"] for r in second["comparison"]["notebooks"]} == {"good.ipynb", "bad.ipynb"}


# --- time to accuracy: the chapter's cells and the baseline --------------------------------------

CNN_MODEL = "import torch\nfrom torch import nn\nmodel = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))"
CNN_TRAIN = (
    "import course_utils as cu\n"
    "cu.glue('cnn_epoch_seconds', [0.5, 0.25], display=False)\n"
    "cu.glue('cnn_device', 'cpu', display=False)"
)
CNN_GLUE = "cu.glue('cnn_epoch_test_acc', [98.5, 99.25], display=False)"  # percent: converted


def test_run_book_training_executes_the_chapter_up_to_its_training(tmp_path):
    path = _notebook(
        tmp_path / "05_cnns.ipynb",
        "x = 1",
        (CNN_MODEL, [cf.CNN_MODEL]),
        (CNN_TRAIN, [cf.CNN_TRAIN]),
        CNN_GLUE,
        "raise RuntimeError('cells after the training must not run')",
        CNN_GLUE,
    )
    assert tta.training_stop_index(nbformat.read(path, as_version=4)) == 3
    assert "nn.Linear(4, 2)" in tta.model_source(path)
    book = tta.run_book_training(path, "cpu")
    assert book == {
        "epoch_seconds": [0.5, 0.25],
        "epoch_test_accuracy": [0.985, 0.9925],
        "first_step_seconds": None,
        "notebook": "05_cnns.ipynb",
        "device": "cpu",
    }


def test_run_book_training_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="needs the CNN chapter"):
        tta.run_book_training(tmp_path / "05_cnns.ipynb")
    untagged = _notebook(tmp_path / "untagged.ipynb", CNN_MODEL, CNN_TRAIN)
    with pytest.raises(LookupError, match="no code cell tagged 'cnn-model'"):
        tta.run_book_training(untagged)
    no_glue = _notebook(tmp_path / "no_glue.ipynb", (CNN_MODEL, [cf.CNN_MODEL]), ("y = 2", [cf.CNN_TRAIN]))
    with pytest.raises(LookupError, match="did not glue cnn_epoch_seconds, cnn_epoch_test_acc"):
        tta.run_book_training(no_glue, "cpu")
    with pytest.raises(LookupError, match="2 entries, cnn_epoch_test_acc 1"):
        tta.book_training_from_glue({"cnn_epoch_seconds": [1, 2], "cnn_epoch_test_acc": [0.9]})


def test_baseline_is_the_source_cnn_with_softmax_outputs():
    model = tta.baseline_model()
    assert sum(p.numel() for p in model.parameters()) == 9930  # (9*9+1)*12 + (12*25+1)*24 + 97*16 + 17*10
    probabilities = model(torch.randn(5, 1, 28, 28))
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(5))
    assert tta.one_hot(3).tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]


def test_train_baseline_on_a_subset():
    train_loader, test_loader = tta.baseline_loaders(cu.data_dir(), subset=64)
    inputs, targets = next(iter(train_loader))
    assert inputs.shape == (32, 1, 28, 28) and 0 <= inputs.min() and inputs.max() <= 1  # ToTensor: 0-1, no Normalize
    assert targets.shape == (32, 10) and torch.all(targets.sum(dim=1) == 1)
    result = tta.train_baseline(2, "cpu", subset=64, log=lambda _: None)
    assert len(result["epoch_seconds"]) == len(result["epoch_test_accuracy"]) == 2 and result["params"] == 9930
    assert all(0 <= a <= 1 for a in result["epoch_test_accuracy"]) and all(s > 0 for s in result["epoch_seconds"])


# --- loaders ----------------------------------------------------------------------------------------


def test_pil_pipeline_gives_the_same_images_as_the_tensors():
    dataset = pil_dataset(cu.data_dir(), subset=100)
    X, y = cu.load_mnist(allow_fallback=False)[:2]
    X_pipe, y_pipe = next(iter(pil_batches(dataset, batch_size=100, shuffle=False)))
    torch.testing.assert_close(X_pipe, X[:100], atol=1e-5, rtol=0)
    assert torch.equal(y_pipe, y[:100])


def test_tensor_batches_cover_every_example_once():
    X, y = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    batches = list(tensor_batches(X, y, batch_size=4))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == list(range(10))
    assert all(torch.equal(bx.squeeze(1).long(), by) for bx, by in batches)  # X and y stay paired


def test_epoch_seconds_and_compare_loaders_on_a_subset():
    X, y = torch.randn(50, 3), torch.arange(50)
    times = epoch_seconds(lambda: tensor_batches(X, y, 16), "cpu", repeats=3)
    assert len(times) == 3 and all(t > 0 for t in times)
    result = compare_loaders(batch_sizes=(16,), subset=64, repeats=2)
    assert result["num_images"] == 64 and result["repeats"] == 2
    row = result["rows"][0]
    assert row["batch_size"] == 16 and len(row["pipeline_all"]) == len(row["tensor_all"]) == 2
    assert row["pipeline_seconds"] > 0 and row["tensor_seconds"] > 0


def test_time_to_accuracy_cli_fails_clearly_without_the_chapter(tmp_path, capsys):
    assert tta.main(["--notebook", str(tmp_path / "05_cnns.ipynb")]) == 2
    assert "needs the CNN chapter" in capsys.readouterr().err


def test_pad_target_and_the_pages_section():
    report = _report([_notebook_entry("01_a.ipynb", 10.0)])
    report["pages"] = {
        "page": "book/05_cnns",
        "model_ms_median": 0.4,
        "prediction_ms_median": 4.5,
        "prediction_ms_p90": 9.0,
        "predictions": 200,
        "target_ms": 50.0,
        "model_bytes": 200_000,
        "page_bytes_on_load": 5_000_000,
        "page_bytes_with_pad": 19_000_000,
        "largest_files": [["_static/vendor/ort-wasm-simd-threaded.wasm", 14_000_000]],
    }
    pad = next(t for t in reports.check_targets(report, "cpu") if t["target"].startswith("digit pad"))
    assert (pad["value"], pad["met"]) == (4.5, True)
    text = reports.to_markdown(report)
    assert "4.5 ms per prediction" in text and "model 0.19 MiB" in text and "4.77 MiB when it loads" in text
    report["pages"] = {"skipped": "no built book in _build/html (make book, then run again)"}
    assert "Not measured: no built book" in reports.to_markdown(report)
    assert next(t for t in reports.check_targets(report, "cpu") if t["target"].startswith("digit pad"))["met"] is None
