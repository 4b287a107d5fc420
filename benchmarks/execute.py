"""Execute one notebook in a fresh kernel and measure it: wall time, peak memory, device, glue.

Peak memory is read *inside* the kernel once its cells have run: ``getrusage(RUSAGE_SELF)``'s
``ru_maxrss`` is the kernel process's resident-set high-water mark (Linux's VmHWM), so each
notebook gets its own figure even though they run one after another. (``RUSAGE_CHILDREN`` in the
runner would only give the largest of all kernels, and only once they have exited.) Processes
that a kernel starts itself, such as DataLoader workers, are not counted; the book starts none.
On CUDA the probe also reads ``torch.cuda.max_memory_allocated()``.

The probe also records the kernel's CPU time (user + system, its finished child processes such as
compiler workers included): on a busy machine it is inflated far less than the wall time.
"""

from __future__ import annotations

import ast
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from tools.chapter_format import BOOK, cpu_only_reason

DEVICE_ENV_VAR = "COURSE_DEVICE"  # read by cu.get_device()
GLUE_PREFIX = "application/papermill.record/"  # myst_nb.ext.glue.GLUE_PREFIX (display=False)
PROBE_MARK = "__BENCHMARK_PROBE__"
PROBE_SOURCE = f"""
import json as _json, resource as _resource, sys as _sys
_torch = _sys.modules.get("torch")
_cuda = bool(_torch is not None and _torch.cuda.is_initialized())
_self, _children = _resource.getrusage(_resource.RUSAGE_SELF), _resource.getrusage(_resource.RUSAGE_CHILDREN)
print({PROBE_MARK!r} + _json.dumps({{
    "peak_rss_mb": _self.ru_maxrss / 1024,
    "cpu_seconds": _self.ru_utime + _self.ru_stime + _children.ru_utime + _children.ru_stime,
    "torch_imported": _torch is not None,
    "torch_threads": _torch.get_num_threads() if _torch is not None else None,
    "cuda_initialized": _cuda,
    "cuda_max_memory_allocated": int(_torch.cuda.max_memory_allocated()) if _cuda else 0,
    "cuda_device_name": _torch.cuda.get_device_name() if _cuda else None,
}}))
"""


@dataclass
class NotebookRun:
    """What executing one notebook gave. Times in seconds, memory in MiB."""

    notebook: str
    device: str
    status: str = "ok"  # "ok", "error" or "timeout"
    error: str | None = None
    seconds: float = 0.0  # kernel start-up and every cell
    cells_seconds: float = 0.0  # the cells only
    probe: dict = field(default_factory=dict)
    glue: dict = field(default_factory=dict)
    slowest_cells: list = field(default_factory=list)  # [(cell index, seconds, first line)]
    problems: list = field(default_factory=list)  # device-use problems found after the run
    cpu_only: str | None = None  # why the notebook never uses a GPU, if it says so (course.cpu_only)

    @property
    def peak_rss_mb(self) -> float | None:
        return self.probe.get("peak_rss_mb")

    def to_dict(self) -> dict:
        return asdict(self) | {"peak_rss_mb": self.peak_rss_mb}


def parse_glue_value(data: dict):
    """The Python value of one glued output's mime bundle (prefix already removed).

    MyST-NB stores the ``text/plain`` repr: numbers, strings and lists come back as themselves,
    ``np.float64(0.5)`` / ``array([...])`` as their contents; anything else stays a string.
    Outputs with no ``text/plain`` (a figure alone) give None.
    """
    text = data.get("text/plain")
    if text is None:
        return None
    if isinstance(text, list):
        text = "".join(text)
    for candidate in (text, re.sub(r"^(?:np\.|numpy\.)?\w+\((.*)\)$", r"\1", text.strip(), flags=re.S)):
        try:
            return ast.literal_eval(candidate)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
    return text


def read_glue(nb) -> dict:
    """Every value a notebook glued (``myst_nb.glue``/``cu.glue``), by name, in cell order.

    Glue outputs are ``display_data`` outputs whose metadata has ``scrapbook: {name, mime_prefix}``;
    with ``display=False`` their mime types carry the ``mime_prefix``.
    """
    glued = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if output.get("output_type") != "display_data" or not scrapbook:
                continue
            prefix = scrapbook.get("mime_prefix", "")
            data = {k[len(prefix) :] if prefix and k.startswith(prefix) else k: v for k, v in output["data"].items()}
            glued[scrapbook["name"]] = parse_glue_value(data)
    return glued


def kernel_env(device: str) -> dict:
    """The kernel's environment: this repository's course_utils first, the device forced if asked."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BOOK), env.get("PYTHONPATH")]))
    if device == "auto":
        env.pop(DEVICE_ENV_VAR, None)
    else:
        env[DEVICE_ENV_VAR] = device  # binding: cu.fit/evaluate/predict raise if anything is elsewhere
    return env


def cuda_use_problems(run: NotebookRun) -> list[str]:
    """Why a notebook run with the device forced to CUDA did not (visibly) use the GPU; [] if it did."""
    probe, problems = run.probe, []
    if not probe:
        return ["no probe result: the kernel's device use could not be checked"]
    if not probe.get("torch_imported"):
        problems.append("PyTorch was never imported")
    elif not probe.get("cuda_initialized"):
        problems.append("CUDA was never initialised: nothing ran on the GPU")
    elif probe.get("cuda_max_memory_allocated", 0) <= 0:
        problems.append("torch.cuda.max_memory_allocated() is 0: no tensor was ever put on the GPU")
    for name, value in run.glue.items():
        if name.endswith("_device") and isinstance(value, str) and not re.search(r"cuda|gpu", value, re.I):
            problems.append(f"the notebook glued {name} = {value!r}")
    return problems


def _cell_seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    from datetime import datetime

    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (parse(end) - parse(start)).total_seconds()


def _slowest(cells, how_many: int = 3) -> list:
    timed = [
        (i, _cell_seconds(c), c.source.strip().splitlines()[0][:60] if c.source.strip() else "")
        for i, c in enumerate(cells)
        if c.cell_type == "code"
    ]
    timed = [t for t in timed if t[1] is not None]
    return [[i, round(s, 3), line] for i, s, line in sorted(timed, key=lambda t: -t[1])[:how_many]]


def _read_probe(cell) -> dict:
    for output in cell.get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith(PROBE_MARK):
                return json.loads(line[len(PROBE_MARK) :])
    return {}


def execute_notebook(
    path, device: str = "auto", *, stop_after: int | None = None, timeout: int = 900, save_to: Path | None = None
) -> NotebookRun:
    """Execute ``path`` in a fresh kernel, in its own folder, as the book build does, and measure it.

    Args:
        path: the notebook.
        device: "auto" (whatever `cu.get_device()` picks), "cpu" or "cuda[:N]" (sets
            COURSE_DEVICE, which cu.fit/evaluate/predict enforce).
        stop_after: execute only the cells up to this index (inclusive).
        timeout: seconds allowed per cell.
        save_to: write the executed notebook there (outputs kept).
    Returns:
        A `NotebookRun`; a failing cell gives status "error" (or "timeout"), not an exception.
    """
    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    if stop_after is not None:
        nb.cells = nb.cells[: stop_after + 1]
    probe_index = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE_SOURCE.strip()))
    run = NotebookRun(notebook=path.name, device=device)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    with client.setup_kernel(env=kernel_env(device), cwd=str(path.parent)):
        cells_start = time.perf_counter()
        try:
            for index in range(probe_index):
                client.execute_cell(nb.cells[index], index)
        except CellTimeoutError as error:
            run.status, run.error = "timeout", str(error).strip()[-2000:]
        except CellExecutionError as error:
            run.status, run.error = "error", str(error).strip()[-2000:]
        end = time.perf_counter()
        try:
            client.execute_cell(nb.cells[probe_index], probe_index)
            run.probe = _read_probe(nb.cells[probe_index])
        except Exception as error:  # the kernel died: report what we have
            run.problems.append(f"memory probe failed: {type(error).__name__}")
    nb.cells.pop(probe_index)
    run.seconds, run.cells_seconds = end - start, end - cells_start
    run.glue, run.slowest_cells = read_glue(nb), _slowest(nb.cells)
    run.cpu_only = cpu_only_reason(nb)
    if device.startswith("cuda") and run.cpu_only is None:
        run.problems += cuda_use_problems(run)
    if save_to is not None:
        Path(save_to).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save_to)
    return run
