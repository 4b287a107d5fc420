"""Grade submitted notebooks by running their self-checks: a score table as CSV or JSON.

    python -m tools.grade submitted/ -o scores.csv -o scores.json

Every submission (a notebook, or every notebook under a folder) is executed from top to bottom
in a fresh kernel, in its own folder, with ``COURSE_CHECK_LOG`` pointing at a private file: each
``cu.check_...`` call appends its result there. Outputs already in the submission are ignored.
A cell that raises does not stop the run, so one broken exercise costs only its own checks.

The checks a submission should pass are those of the matching chapter in ``--book`` (matched by
the ``course.source`` metadata that ``tools.assign`` writes, else by file name), so a
deleted self-check cell counts as failed. Each check is worth one point.

Executing a submission runs the student's code: do it in a container or a JupyterHub account,
not on a machine with secrets.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

import course_utils
from course_utils.checks import LOG_ENV_VAR
from tools import chapter_format as cf


@dataclass
class Grade:
    """The outcome of one submission: the results of its checks and the cells that raised."""

    submission: str
    notebook: str
    expected: list[str]
    results: dict[str, dict] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(self.results.get(name, {}).get("passed", False) for name in self.expected)

    @property
    def total(self) -> int:
        return len(self.expected)

    def as_dict(self) -> dict:
        checks = {
            name: self.results.get(name, {"passed": False, "message": "did not run", "hint": ""})
            for name in self.expected
        }
        return {
            "submission": self.submission,
            "notebook": self.notebook,
            "passed": self.passed,
            "total": self.total,
            "score": round(self.passed / self.total, 4) if self.total else None,
            "checks": checks,
            "errors": self.errors,
        }


def check_calls(nb: NotebookNode) -> list[str]:
    """The check functions the ``self-check`` cells call, as dotted names (``check_gradients``)."""
    calls = []
    for cell in cf.code_cells(nb, cf.SELF_CHECK):
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                parts, func = [], node.func
                while isinstance(func, ast.Attribute):
                    parts, func = [func.attr] + parts, func.value
                if isinstance(func, ast.Name) and func.id in ("cu", "course_utils") and parts:
                    calls.append(".".join(parts))
    return calls


def expected_checks(nb: NotebookNode) -> list[str]:
    """The names of the checks (``Exercise 1.1 (...)``) that the self-check cells of ``nb`` run."""
    names = []
    for dotted in check_calls(nb):
        target = course_utils
        for part in dotted.split("."):
            target = getattr(target, part, None)
        name = getattr(target, "check_name", None)
        if name and name not in names:
            names.append(name)
    return names


def source_chapter(nb: NotebookNode, path: Path, book: Path | None) -> NotebookNode:
    """The chapter a submission was made from, if ``book`` has it; else the submission itself."""
    name = cf.course_metadata(nb).get(cf.SOURCE, path.name)
    for candidate in [book / name, book / path.name] if book else []:
        if candidate.is_file():
            return nbformat.read(candidate, as_version=4)
    return nb


def _errors(nb: NotebookNode) -> list[dict]:
    """The cells of an executed notebook that raised: index, exception name and message."""
    return [
        {"cell": index, "ename": out.get("ename", ""), "evalue": out.get("evalue", "")}
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def execute(nb: NotebookNode, cwd: Path, log: Path, timeout: int) -> tuple[NotebookNode, str]:
    """Run ``nb`` in a fresh kernel with the check log at ``log``; returns it and any fatal error."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb, timeout=timeout, allow_errors=True, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    try:
        client.execute(env={**os.environ, LOG_ENV_VAR: str(log)})
    except Exception as error:  # a timeout or a dead kernel: keep the results logged so far
        return nb, f"{type(error).__name__}: {error}"
    return nb, ""


def read_log(log: Path) -> dict[str, dict]:
    """The last result of every check in a ``COURSE_CHECK_LOG`` file, by check name."""
    results = {}
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                results[record["name"]] = record
    return results


def grade(path: Path, label: str, book: Path | None = None, timeout: int = 600) -> Grade:
    """Execute one submitted notebook and collect its check results."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # not a notebook any more: every check of its chapter fails
        chapter = book / path.name if book else None
        expected = expected_checks(nbformat.read(chapter, as_version=4)) if chapter and chapter.is_file() else []
        return Grade(
            label,
            path.name,
            expected,
            errors=[{"cell": None, "ename": "UnreadableNotebook", "evalue": f"{type(error).__name__}: {error}"}],
        )
    expected = expected_checks(source_chapter(nb, path, book)) or expected_checks(nb)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "checks.jsonl"
        executed, fatal = execute(nb, path.parent, log, timeout)
        results = read_log(log)
    result = Grade(
        label,
        cf.course_metadata(nb).get(cf.SOURCE, path.name),
        expected or list(results),
        results,
        _errors(executed),
    )
    if fatal:
        result.errors.append({"cell": None, "ename": "ExecutionStopped", "evalue": fatal})
    return result


def submissions(paths: list[Path]) -> list[tuple[Path, str]]:
    """Every notebook named or found under ``paths``, with a label relative to its folder."""
    found = []
    for path in paths:
        if path.is_dir():
            found += [
                (nb, nb.relative_to(path).as_posix())
                for nb in sorted(path.rglob("*.ipynb"))
                if ".ipynb_checkpoints" not in nb.parts
            ]
        else:
            found.append((path, path.name))
    return found


def write_csv(grades: list[Grade], path: Path) -> None:
    """One row per submission: a 1/0 column per check, then passed, total, score and errors."""
    checks = list(dict.fromkeys(name for g in grades for name in g.expected))
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["submission", "notebook", *checks, "passed", "total", "score", "errors"])
        for g in grades:
            row = g.as_dict()
            marks = [int(row["checks"][c]["passed"]) if c in row["checks"] else "" for c in checks]
            writer.writerow([g.submission, g.notebook, *marks, g.passed, g.total, row["score"], len(g.errors)])


def write_json(grades: list[Grade], path: Path) -> None:
    """Every submission with each check's verdict, message and hint, and the cells that raised."""
    path.write_text(json.dumps([g.as_dict() for g in grades], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m tools.grade``."""
    parser = argparse.ArgumentParser(prog="python -m tools.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, nargs="+", help="notebooks, or folders searched for notebooks")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        action="append",
        default=[],
        help="score table to write, .csv or .json (repeat for both)",
    )
    parser.add_argument(
        "--book",
        type=Path,
        default=cf.BOOK,
        help="folder of the chapter notebooks, for the list of checks (default: the repository's book/)",
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds one cell may run (default: 600)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions to run at the same time (default: 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if any(p.suffix not in (".csv", ".json") for p in args.output):
        print("error: the output must end in .csv or .json", file=sys.stderr)
        return 2
    found = submissions(args.submissions)
    print(f"grading {len(found)} submission(s), {args.jobs} at a time ...", file=sys.stderr, flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        grades = list(
            pool.map(
                grade,
                [p for p, _ in found],
                [label for _, label in found],
                [args.book] * len(found),
                [args.timeout] * len(found),
            )
        )
    for out in args.output:
        (write_csv if out.suffix == ".csv" else write_json)(grades, out)
        print(f"wrote {out}", file=sys.stderr)
    width = max((len(g.submission) for g in grades), default=10)
    for g in grades:
        print(f"{g.submission:<{width}}  {g.passed}/{g.total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
