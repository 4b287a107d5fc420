"""Instructor tooling: student versions, the grader, nbgrader, the student site and the guide.

Executing notebooks is the slow part, so each one is executed as few times as possible:

* Every chapter, once: one kernel runs the part of the chapter its self-checks need
  (`check_slice`), first as the student version (every check fails, and nothing stops outside the
  cells marked as needing an exercise), then with the reference solutions filled in (every check
  passes). Static tests cover the rest: no solution line survives, the stubs replace exactly the
  solution regions, a stub that stops the notebook (an answer outside a function) is marked.
* Chapter 1, three times in full through the grader: a correct, a partly wrong and an untouched
  submission. The untouched one is the whole-notebook "stops only at exercise stubs" test.
* Chapter 1 once more, through nbgrader's autograder.
* The student site: the book cut down to chapter 1 and its pages, built as instructor and as
  student edition. A full build executes every chapter (minutes); `make test-book` does that.
"""

import ast
import builtins
import copy
import csv
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import course_utils as cu
from course_utils import assign, grade
from course_utils.checks import LOG_ENV_VAR, STRICT_ENV_VAR, CheckFailed, CheckResult, self_check

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))
FIRST = BOOK / "01_linear_models.ipynb"
GUIDE = BOOK / "instructor_guide.md"
# Subprocesses and kernels import this checkout's course_utils and find the environment's tools.
ENV = {k: v for k, v in os.environ.items() if k not in (LOG_ENV_VAR, STRICT_ENV_VAR)}
ENV["PYTHONPATH"] = os.pathsep.join([str(BOOK)] + ([ENV["PYTHONPATH"]] if ENV.get("PYTHONPATH") else []))
ENV["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), ENV.get("PATH", "")])
chapters = pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])


def run(*args, cwd: Path = ROOT, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run a command with `ENV`; fail the test with its output if it fails."""
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def normalise(text: str) -> str:
    """Whitespace collapsed, and Sphinx's typographic quotes and dashes back to ASCII."""
    return " ".join(
        text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "--", "—": "---"})).split()
    )


def solution_parts(nb) -> tuple[set[str], set[str]]:
    """The distinctive lines of a chapter's solutions: code lines between the markers and text
    lines inside gated solutions that occur nowhere else in the chapter. Found here without
    `course_utils.assign`, so the tests do not reuse what they test."""
    code, text, outside, inside = [], [], set(), False
    for cell in nb.cells:
        region = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if cell.cell_type == "markdown":
                if "{solution-start}" in line or "{solution-end}" in line:
                    inside = "{solution-start}" in line
                elif inside and stripped and not stripped.startswith(":"):
                    text.append(stripped)
                elif not inside:
                    outside.add(stripped)
            elif "### BEGIN SOLUTION" in line or "### END SOLUTION" in line:
                region = "BEGIN" in line
            elif region:
                code.append(stripped)
            else:
                outside.add(stripped)
    distinctive_code = {line for line in code if line and not line.startswith("#") and line not in outside}
    return distinctive_code, {line for line in text if line not in outside}


def plain(markdown_line: str) -> str | None:
    """A Markdown line as it reads in HTML, or None if markup would change it (math, links, roles)."""
    if re.search(r"[$\[{<|\\]", markdown_line) or len(markdown_line) < 20:
        return None
    parts = markdown_line.split("`")  # odd parts are code spans: their * and _ are literal
    return normalise("".join(p if k % 2 else p.replace("*", "") for k, p in enumerate(parts)))


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    """Student versions of every chapter, written by the command instructors run."""
    out = tmp_path_factory.mktemp("student")
    run(sys.executable, "-m", "course_utils.assign", "book/", "-o", out)
    return out


# --- The exercise format that the tools rely on -----------------------------------------------


@chapters
def test_exercises_fit_the_tools(path, student_dir):
    nb, student = read(path), read(student_dir / path.name)
    exercises = assign.find_exercises(nb, assign.chapter_number(nb, path))
    labels = [e.label for e in exercises]
    assert len(set(labels)) == len(labels), f"duplicate exercise labels: {labels}"
    starts = re.findall(
        r"\{solution-start\}\s*(\S+)", "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    )
    assert set(starts) <= set(labels), f"solutions of unknown exercises: {set(starts) - set(labels)}"
    solution_cells = [c for c in code_cells(nb) if assign.BEGIN in c.source]
    grade_ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in solution_cells]
    assert all(c.metadata.get("nbgrader", {}).get("solution") for c in solution_cells), "nbgrader solution metadata"
    assert len(set(grade_ids)) == len(grade_ids) and None not in grade_ids, f"nbgrader grade_ids: {grade_ids}"
    for cell in code_cells(student):  # an answer outside a function stops the notebook at its stub: say so
        if assign.STUB_LINE.search(cell.source) and assign.runs_into_stub(cell.source):
            assert assign.RAISES_TAG in tags(cell), cell.source
    for cell in code_cells(nb):
        if assign.CHECK_TAG in tags(cell):
            one = new_notebook(cells=[cell])
            assert grade.expected_checks(one), f"self-check cell calls no @self_check function of cu: {cell.source}"


# --- Student versions ---------------------------------------------------------------------------


@chapters
def test_student_versions_contain_no_solution(path, student_dir):
    nb, student = read(path), read(student_dir / path.name)
    solution_code, solution_text = solution_parts(nb)
    if any(assign.BEGIN in c.source for c in code_cells(nb)):
        assert solution_code, "no solution line is distinctive: the test could not see a leak"
    student_lines = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    assert not solution_code & student_lines, f"solution code in the student version: {solution_code & student_lines}"
    assert not solution_text & student_lines, f"solution text in the student version: {solution_text & student_lines}"
    markdown = "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
    assert not re.search(r"\{solution(-start|-end)?\}", markdown)
    assert markdown.count("{exercise}") == "\n".join(c.source for c in nb.cells).count("{exercise}")


@chapters
def test_stubs_replace_exactly_the_solution_regions(path, student_dir):
    nb, student = read(path), read(student_dir / path.name)
    regions = assign.solution_regions(nb)
    assert len(assign.STUB_LINE.findall("\n".join(c.source for c in code_cells(student)))) == len(regions)

    def lines(notebook, drop) -> list[str]:
        return ["\n".join(line for line in c.source.splitlines() if not drop(line)) for c in code_cells(notebook)]

    filled = assign.fill_in(student, regions)
    assert lines(filled, lambda line: line.startswith(assign.NEEDS_PREFIX)) == lines(
        nb, lambda line: assign.BEGIN in line or assign.END in line
    ), "filling in the references must give the chapter's code back"
    exercises = {e.label: e for e in assign.find_exercises(nb, assign.chapter_number(nb, path))}
    for source_cell, student_cell in zip(code_cells(nb), code_cells(student)):
        label = source_cell.metadata.get("nbgrader", {}).get("grade_id")
        if assign.BEGIN in source_cell.source and label in exercises:
            exercise = exercises[label]
            assert f'"Exercise {exercise.number} ({exercise.title or label}): ' in student_cell.source


@chapters
def test_student_versions_keep_checks_and_clear_outputs(path, student_dir):
    nb, student = read(path), read(student_dir / path.name)
    assert student.metadata["course"] == {"edition": "student", "source": path.name}
    assert all(not c.outputs and c.execution_count is None for c in code_cells(student))
    checks = [c.source for c in code_cells(nb) if assign.CHECK_TAG in tags(c)]
    kept = [
        "\n".join(line for line in c.source.splitlines() if not line.startswith(assign.NEEDS_PREFIX))
        for c in code_cells(student)
        if assign.CHECK_TAG in tags(c)
    ]
    assert kept == checks
    for source, cell in zip(code_cells(nb), code_cells(student)):  # the same code cells, in order
        marked = cell.source.startswith(assign.NEEDS_PREFIX) or assign.runs_into_stub(cell.source)
        assert marked == (assign.RAISES_TAG in tags(cell)) or assign.RAISES_TAG in tags(source)


def _mutated(source: str) -> set[str]:
    """Names a cell may change without rebinding them: ``x.method()`` or ``f(x, ...)`` as a
    statement (``f(x[i])`` only reads ``x``), ``x.attr = ...``, ``x[i] = ...``, ``x += ...``
    (outside function bodies)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names, scopes = set(), (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)

    def base(node):
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    def visit(node):
        if isinstance(node, scopes):
            return
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            names.add(base(call.func) if isinstance(call.func, ast.Attribute) else None)
            names.add(call.args[0].id if call.args and isinstance(call.args[0], ast.Name) else None)
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AugAssign) else []
        )
        names.update(
            base(t) for t in targets if isinstance(t, (ast.Attribute, ast.Subscript)) or isinstance(node, ast.AugAssign)
        )
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names - {None}


def _reads(source: str) -> set[str]:
    """The global names a cell reads before it binds them: those it never binds, and those whose
    first mention (the first top-level statement that names them) reads them, as ``x = x + 1``."""
    names = assign.cell_names(source)
    try:
        statements = ast.parse(source).body
    except SyntaxError:
        return names.used
    reads = names.used - names.bound
    for name in names.used & names.bound:
        first = next(
            (s for s in statements if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(s))), None
        )
        if first is None or any(
            isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load) for n in ast.walk(first)
        ):
            reads.add(name)
    return reads


def check_slice(nb) -> list[int]:
    """The code cells the self-checks need: the solution and check cells and, transitively, for
    each name they read before binding it (`_reads`), the latest earlier cell that binds it and the
    cells after that which may change it (`_mutated`; not for imported modules, whose calls are
    functions). Names come from `symtable`, so a function's locals are not dependencies."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    names = {i: assign.cell_names(nb.cells[i].source) for i in code}
    modules = set().union(*(n.imported for n in names.values())) if names else set()
    mutated = {i: _mutated(nb.cells[i].source) - modules for i in code}
    reads = {i: _reads(nb.cells[i].source) for i in code}
    needed = {i for i in code if {assign.CHECK_TAG, assign.SOLUTION_TAG} & set(tags(nb.cells[i]))}
    frontier = sorted(needed)
    while frontier:
        i = frontier.pop()
        for name in reads[i] - set(dir(builtins)):
            binders = [j for j in code if j < i and name in names[j].bound]
            if not binders:
                continue
            for j in [binders[-1]] + [j for j in code if binders[-1] < j < i and name in mutated[j]]:
                if j not in needed:
                    needed.add(j)
                    frontier.append(j)
    return sorted(needed)


def _set_log(path: Path):
    return new_code_cell(f"import os\nos.environ[{LOG_ENV_VAR!r}] = {str(path)!r}")


def _errors(cells) -> list[str]:
    return [
        f"{o.ename}: {o.evalue}\n{c.source}" for c in cells for o in c.get("outputs", []) if o.output_type == "error"
    ]


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@chapters
def test_reference_solutions_pass_every_check_and_stubs_fail_cleanly(path, student_dir, tmp_path):
    """One kernel: first the student version's slice (stubs: every check fails, nothing stops
    outside the marked cells), then the reference answers filled in, re-running the cells whose
    result depends on an answer (every check passes)."""
    nb, student = read(path), read(student_dir / path.name)
    filled = assign.fill_in(student, assign.solution_regions(nb))
    expected = grade.expected_checks(nb)
    cells = check_slice(filled)
    if not cells:
        assert not expected and not assign.solution_regions(nb)  # no exercise: nothing to run
        return
    rerun = [
        i for i in cells if {assign.CHECK_TAG, assign.SOLUTION_TAG, assign.RAISES_TAG} & set(tags(student.cells[i]))
    ]
    stubs, answers = tmp_path / "stubs.jsonl", tmp_path / "answers.jsonl"
    run_nb = new_notebook(metadata=student.metadata)
    run_nb.cells = [
        copy.deepcopy(c)
        for c in [_set_log(stubs)]
        + [student.cells[i] for i in cells]
        + [_set_log(answers)]
        + [filled.cells[i] for i in rerun]
    ]
    for k, cell in enumerate(run_nb.cells):
        cell.id = f"run-{k}"  # a cell appears twice: as a stub, then filled in
    NotebookClient(
        run_nb, timeout=600, allow_errors=True, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}
    ).execute(env=ENV)
    first, second = run_nb.cells[1 : len(cells) + 1], run_nb.cells[len(cells) + 2 :]

    unexpected = _errors([c for c in first if assign.RAISES_TAG not in tags(c)])
    assert not unexpected, "the student version stopped outside the cells marked as needing an exercise:\n" + "\n".join(
        unexpected
    )
    results = _log(stubs)
    assert not any(r["passed"] for r in results), f"checks passed on stubs: {results}"
    unmarked_checks = new_notebook(
        cells=[c for c in first if assign.CHECK_TAG in tags(c) and assign.RAISES_TAG not in tags(c)]
    )
    assert {r["name"] for r in results} == set(grade.expected_checks(unmarked_checks))

    assert not _errors(second), "with the reference solutions:\n" + "\n".join(_errors(second))
    passed = {r["name"]: r["passed"] for r in _log(answers)}
    assert passed == dict.fromkeys(expected, True), f"with the reference solutions: {_log(answers)}"


# --- The parts of the format that chapter 1 does not exercise: a small made-up chapter ---------

SOLUTION = {
    "tags": ["exercise-solution"],
    "nbgrader": {"solution": True, "grade": False, "locked": False, "grade_id": "ex-toy", "schema_version": 3},
}


def toy_chapter(
    *,
    gated_code: str = (
        'def double(x):\n    """Twice x."""\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION'
    ),
    metadata: dict | None = None,
):
    """A chapter with one exercise, text around its solution, a later cell that uses the answer, and
    a non-gated solution block."""
    return new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        cells=[
            new_markdown_cell("(ch-toy)=\n# 7. A toy chapter"),
            new_code_cell(
                "def check(f):\n    try:\n        print('pass' if f(2) == 4 else 'fail')\n"
                "    except NotImplementedError:\n        print('not attempted')"
            ),
            new_markdown_cell(
                "Before the exercise.\n\n:::{exercise} Double it\n:label: ex-toy\n\nWrite `double(x)`.\n:::\n\n"
                ":::{solution-start} ex-toy\n:class: dropdown\n:::"
            ),
            new_code_cell(gated_code, metadata=SOLUTION if metadata is None else metadata),
            new_markdown_cell(
                "Because doubling adds a number to itself.\n\n:::{solution-end}\n:::\n\nAfter the solution."
            ),
            new_code_cell("check(double)", metadata={"tags": ["self-check"]}),
            new_code_cell("table = [double(i) for i in range(3)]"),
            new_code_cell("print(sum(table))"),
            new_code_cell("print('independent cell ran')"),
            new_markdown_cell("::::{solution} ex-toy\n:class: dropdown\n\n```python\nsecret = 42\n```\n::::\nThe end."),
            new_markdown_cell(
                ":::{exercise} A value\n:label: ex-value\n\nSet `answer`.\n:::\n\n"
                ":::{solution-start} ex-value\n:class: dropdown\n:::"
            ),
            new_code_cell(
                "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION",
                metadata={"tags": ["exercise-solution"], "nbgrader": dict(SOLUTION["nbgrader"], grade_id="ex-value")},
            ),
            new_markdown_cell(":::{solution-end}\n:::"),
            new_code_cell("print('answer is', answer)", metadata={"tags": ["self-check"]}),
            new_code_cell("print('last cell ran')"),
        ],
    )


def test_solution_text_goes_wherever_it_sits_and_the_rest_stays():
    student = assign.student_version(toy_chapter(), Path("07_toy.ipynb"))
    markdown = "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
    for kept in ("Before the exercise.", ":::{exercise} Double it", "After the solution.", "The end."):
        assert kept in markdown
    for gone in ("Because doubling", "{solution", "secret"):
        assert gone not in markdown
    assert (
        'raise NotImplementedError("Exercise 7.1 (Double it): replace this line with your code")'
        in student.cells[3].source
    )
    assert '"""Twice x."""' in student.cells[3].source and "2 * x" not in student.cells[3].source


def test_code_inside_a_solution_must_be_a_solution_cell():
    with pytest.raises(assign.AssignError, match="not a solution cell"):
        assign.student_version(toy_chapter(gated_code="secret = 42", metadata={}), Path("07_toy.ipynb"))


def test_cells_that_need_an_exercise_say_so_and_everything_else_runs():
    student = assign.student_version(toy_chapter(), Path("07_toy.ipynb"))
    marked = [c.source for c in code_cells(student) if assign.RAISES_TAG in tags(c)]
    needs_double, needs_value = "# Needs Exercise 7.1 (Double it) above", "# Needs Exercise 7.2 (A value) above"
    assert [m.splitlines()[0].split(":")[0] for m in marked] == [
        needs_double,
        needs_double,
        'raise NotImplementedError("Exercise 7.2 (A value)',
        needs_value,
    ]
    assert [m.splitlines()[-1] for m in marked] == [
        "table = [double(i) for i in range(3)]",
        "print(sum(table))",
        marked[2],
        "print('answer is', answer)",
    ]
    NotebookClient(student, timeout=60, allow_errors=True, kernel_name="python3").execute(env=ENV)
    assert not _errors([c for c in code_cells(student) if assign.RAISES_TAG not in tags(c)])
    outputs = {c.source.splitlines()[-1]: "".join(o.get("text", "") for o in c.outputs) for c in code_cells(student)}
    assert outputs["check(double)"] == "not attempted\n"
    assert outputs["print('independent cell ran')"] == "independent cell ran\n"
    assert outputs["print('last cell ran')"] == "last cell ran\n"
    assert "NotImplementedError" in _errors([code_cells(student)[3]])[0]  # table = [double(i) ...]


# --- Checks -------------------------------------------------------------------------------------


def test_checks_keep_their_name_log_results_and_raise_only_when_strict(tmp_path, monkeypatch, capsys):
    @self_check("Exercise 0.1 (demo)")
    def check_demo(value) -> None:
        if value != 1:
            raise CheckFailed("not one yet", "try 1")

    assert check_demo.check_name == "Exercise 0.1 (demo)"
    monkeypatch.setenv(LOG_ENV_VAR, str(tmp_path / "log.jsonl"))
    assert check_demo(1).passed and not check_demo(2).passed  # a wrong answer never raises by default
    monkeypatch.setenv(STRICT_ENV_VAR, "1")
    with pytest.raises(AssertionError, match="not one yet"):
        check_demo(2)
    assert check_demo(1).passed
    monkeypatch.setenv(STRICT_ENV_VAR, "0")
    assert not check_demo(2).passed
    assert [r["passed"] for r in _log(tmp_path / "log.jsonl")] == [True, False, False, True, False]
    assert capsys.readouterr().out.count("❌ Exercise 0.1 (demo): not one yet\n   Hint: try 1") == 3


def _stub(*args, **kwargs):
    raise NotImplementedError("Exercise")


CHECKS = sorted(name for name in dir(cu) if hasattr(getattr(cu, name), "check_name"))


@pytest.mark.parametrize(
    "junk", [None, lambda *a, **k: None, _stub, "text"], ids=["None", "returns-None", "stub", "str"]
)
@pytest.mark.parametrize("name", CHECKS)
def test_every_check_fails_junk_with_a_verdict_and_no_exception(name, junk, capsys):
    check = getattr(cu, name)
    required = [
        p
        for p in inspect.signature(check.__wrapped__).parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    result = check(*[junk] * len(required))
    assert isinstance(result, CheckResult) and not result.passed and result.message
    assert capsys.readouterr().out.startswith(f"❌ {check.check_name}: ")


# --- The grader: a correct, a partly wrong and an untouched submission of chapter 1 -------------

WRONG_GD = (
    "    w, b = 0.0, 0.0\n    for _ in range(num_steps):\n        error = y - (w * x + b)\n"
    "        w, b = w - lr * 2 * np.mean(error * x), b - lr * 2 * np.mean(error)\n    return w, b"
)
TENSOR_STEP = (
    "    loss = loss_fn(model(X), y)\n    optimizer.zero_grad()\n    loss.backward()\n"
    "    optimizer.step()\n    return loss"
)


@pytest.fixture(scope="module")
def graded(student_dir, tmp_path_factory) -> tuple[dict, dict]:
    """alice answered everything, bob one exercise right and two wrong, carol nothing."""
    student, reference = read(student_dir / FIRST.name), assign.solution_regions(read(FIRST))
    folder = tmp_path_factory.mktemp("grading")
    submissions = {"alice": reference, "bob": [reference[0], WRONG_GD, TENSOR_STEP], "carol": []}
    for name, answers in submissions.items():
        (folder / "submitted" / name).mkdir(parents=True)
        nbformat.write(assign.fill_in(student, answers), folder / "submitted" / name / FIRST.name)
    run(
        sys.executable,
        "-m",
        "course_utils.grade",
        "submitted",
        "-o",
        "scores.csv",
        "-o",
        "scores.json",
        "--book",
        BOOK,
        "--jobs",
        "3",
        cwd=folder,
    )
    rows = {r["submission"].split("/")[0]: r for r in csv.DictReader(open(folder / "scores.csv"))}
    report = {r["submission"].split("/")[0]: r for r in json.loads((folder / "scores.json").read_text())}
    return rows, report


def test_grader_scores_correct_partly_wrong_and_untouched_submissions(graded):
    rows, report = graded
    assert {name: (int(r["passed"]), int(r["total"])) for name, r in rows.items()} == {
        "alice": (3, 3),
        "bob": (1, 3),
        "carol": (0, 3),
    }
    names = grade.expected_checks(read(FIRST))
    assert [[int(rows[s][n]) for n in names] for s in ("alice", "bob", "carol")] == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert float(rows["bob"]["score"]) == pytest.approx(1 / 3, abs=1e-3)
    assert {name: r["passed"] for name, r in report.items()} == {"alice": 3, "bob": 1, "carol": 0}


def test_grader_reports_why_a_check_failed(graded):
    _, report = graded
    bob, carol = report["bob"]["checks"], report["carol"]["checks"]
    names = grade.expected_checks(read(FIRST))
    assert "not right yet" in bob[names[1]]["message"] and bob[names[1]]["hint"]
    assert "Python float" in bob[names[2]]["message"]
    assert all("not attempted" in carol[n]["message"] for n in names)


def test_untouched_submission_runs_to_the_end_and_stops_only_at_stubs(graded):
    _, report = graded
    assert report["alice"]["errors"] == [] and report["bob"]["errors"] == []
    for error in report["carol"]["errors"]:
        assert error["ename"] == "NotImplementedError" and error["evalue"].startswith("Exercise "), error
    assert all(r["message"] != "did not run" for r in report["carol"]["checks"].values())


def test_grader_expects_the_checks_of_the_chapter_even_if_cells_were_deleted(student_dir, tmp_path):
    student = read(student_dir / FIRST.name)
    student.cells = [c for c in student.cells if assign.CHECK_TAG not in tags(c)]
    renamed = tmp_path / "alice" / "my work.ipynb"
    renamed.parent.mkdir()
    nbformat.write(student, renamed)
    assert grade.submissions([tmp_path]) == [(renamed, "alice/my work.ipynb")]
    chapter = grade.source_chapter(read(renamed), renamed, BOOK)
    assert (
        grade.expected_checks(chapter) == grade.expected_checks(read(FIRST))
        and len(grade.expected_checks(chapter)) >= 3
    )


def test_grader_scores_an_unreadable_submission_zero(tmp_path):
    broken = tmp_path / FIRST.name
    broken.write_text("not a notebook")
    result = grade.grade(broken, FIRST.name, BOOK).as_dict()
    assert (result["passed"], result["total"]) == (0, len(grade.expected_checks(read(FIRST))))
    assert result["errors"][0]["ename"] == "UnreadableNotebook"


# --- nbgrader, as the guide describes it ---------------------------------------------------------


def guide_python_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    return next(b for b in blocks if containing in b)


def test_nbgrader_generates_and_autogrades_a_chapter(tmp_path):
    course = tmp_path / "course"
    run(sys.executable, "-m", "course_utils.assign", FIRST, "-o", course / "source", "--nbgrader")
    (course / "nbgrader_config.py").write_text(guide_python_block("COURSE_CHECK_STRICT"))
    run("nbgrader", "generate_assignment", FIRST.stem, cwd=course)
    release = read(course / "release" / FIRST.stem / FIRST.name)
    solution_code, solution_text = solution_parts(read(FIRST))
    release_lines = {line.strip() for c in release.cells for line in c.source.splitlines()}
    assert not (solution_code | solution_text) & release_lines
    checks = [c for c in code_cells(release) if assign.CHECK_TAG in tags(c)]
    assert checks and all(c.metadata["nbgrader"]["grade"] and c.metadata["nbgrader"]["locked"] for c in checks)

    first_answer = assign.solution_regions(read(FIRST))[0]
    stubs = [c for c in code_cells(release) if c.metadata.get("nbgrader", {}).get("solution")]
    stubs[0].source = re.sub(
        r"^ *# YOUR CODE HERE\n *raise NotImplementedError\(\)", first_answer, stubs[0].source, flags=re.M
    )
    submitted = course / "submitted" / "bob" / FIRST.stem / FIRST.name
    submitted.parent.mkdir(parents=True)
    nbformat.write(release, submitted)
    run("nbgrader", "autograde", FIRST.stem, cwd=course)
    run("nbgrader", "export", cwd=course)
    row = next(csv.DictReader(open(course / "grades.csv")))
    assert (row["student_id"], float(row["score"]), float(row["max_score"])) == ("bob", 1.0, len(checks))


def test_student_book_of_the_repository_can_be_pushed_and_launched(tmp_path):
    out = assign.write_student_book(ROOT, tmp_path / "student-book", branch="spring")
    config, toc = (yaml.safe_load((out / name).read_text()) for name in ("_config.yml", "_toc.yml"))
    assert config["repository"]["branch"] == "spring" and config["sphinx"]["config"]["hide_solutions"] is True
    assert all(not assign.INSTRUCTOR_PAGE.search(page) for page in assign.toc_pages(toc))
    assert not (out / "book" / GUIDE.name).exists()
    assert sorted(p.name for p in (out / "book").glob("*.ipynb")) == sorted(
        p.name for p in CHAPTERS if f"book/{p.stem}" in assign.toc_pages(toc)
    )
    for needed in ["pyproject.toml", "requirements.txt", "book/course_utils/__init__.py", ".gitignore"] + [
        p.relative_to(ROOT).as_posix() for p in (ROOT / "binder").glob("*")
    ]:
        assert (out / needed).is_file(), f"{needed} is missing: Binder or pip could not install the student branch"
    assert all(read(nb).metadata["course"]["edition"] == "student" for nb in (out / "book").glob("*.ipynb"))


# --- The student site: chapter 1 built as instructor and as student edition ----------------------


def _mini_book(root: Path) -> Path:
    """A copy of the book whose table of contents keeps the Markdown pages and chapter 1."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for part in toc["parts"]:
        part["chapters"] = [
            c
            for c in part["chapters"]
            if not (BOOK / f"{Path(c['file']).name}.ipynb").exists() or c["file"] == f"book/{FIRST.stem}"
        ]
    toc["parts"] = [part for part in toc["parts"] if part["chapters"]]
    others = [p.name for p in CHAPTERS if p != FIRST]
    shutil.copytree(
        BOOK,
        root / "book",
        ignore=shutil.ignore_patterns(
            *others, "course_utils", "*.egg-info", "__pycache__", ".ipynb_checkpoints", "_build"
        ),
    )
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    return root


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> tuple[Path, Path]:
    """The instructor and student editions of the cut-down book, built with Jupyter Book."""
    tmp = tmp_path_factory.mktemp("site")
    instructor = _mini_book(tmp / "instructor")
    run(sys.executable, "-m", "course_utils.assign", instructor, "--site", "-o", tmp / "student")
    builds = {
        book: subprocess.Popen(
            [Path(sys.executable).parent / "jupyter-book", "build", book, "--keep-going"],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for book in (instructor, tmp / "student")
    }  # both at once: each mostly waits on its kernel
    for book, build in builds.items():
        output = build.communicate(timeout=900)[0]
        assert build.returncode == 0, f"building {book} failed:\n{output[-3000:]}"
    return instructor / "_build" / "html", tmp / "student" / "_build" / "html"


def _site_text(html: Path) -> dict[Path, str]:
    """The text of every text file of a built site (HTML as rendered, notebooks by their cells),
    one normalised line per source line."""
    texts = {}
    for path in html.rglob("*"):
        if path.suffix == ".html":
            texts[path] = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text("")
        elif path.suffix == ".ipynb":
            texts[path] = "\n".join(c.source for c in read(path).cells)
        elif path.suffix in (".txt", ".md", ".js", ".json") and "_static" not in path.parts:
            texts[path] = path.read_text(encoding="utf-8", errors="replace")
    return {p: "\n".join(normalise(line) for line in t.splitlines()) for p, t in texts.items()}


def test_instructor_edition_shows_solutions_in_dropdowns(sites):
    page = BeautifulSoup((sites[0] / "book" / f"{FIRST.stem}.html").read_text(), "html.parser")
    dropdowns = normalise(" ".join(d.get_text("") for d in page.select(".solution.dropdown")))
    code, text = solution_parts(read(FIRST))
    assert code and all(normalise(line) in dropdowns for line in code)
    assert all(plain(line) in dropdowns for line in text if plain(line))
    assert (sites[0] / "book" / f"{GUIDE.stem}.html").exists()


def test_student_edition_has_no_solution_anywhere(sites):
    code, text = solution_parts(read(FIRST))
    sentences = {plain(line) for line in text if plain(line)}
    leaks = set()
    for path, content in _site_text(sites[1]).items():
        lines = set(content.splitlines())
        leaks |= {(path.name, line) for line in code if normalise(line) in lines}  # a whole line of code
        leaks |= {(path.name, s) for s in sentences if s in normalise(content)}  # text, however wrapped
    assert not leaks, f"solutions in the student site: {sorted(leaks)}"


def test_student_edition_shows_exercises_stubs_and_checks_but_not_the_guide(sites):
    html = sites[1]
    page = BeautifulSoup((html / "book" / f"{FIRST.stem}.html").read_text(), "html.parser")
    text = normalise(page.get_text(""))
    assert len(page.select(".exercise")) == len(assign.find_exercises(read(FIRST), "1"))
    assert not page.select(".solution")
    assert 'raise NotImplementedError("Exercise 1.1 (' in text and "not attempted" in text
    assert not (html / "book" / f"{GUIDE.stem}.html").exists() and "student edition" in text


# --- The guide, the table of contents and the Makefile -------------------------------------------


def test_guide_is_a_part_of_its_own_after_the_chapters():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    captions = [p["caption"] for p in toc["parts"]]
    assert captions[-1] == "For instructors" and captions.index("Chapters") < len(captions) - 1
    assert toc["parts"][-1]["chapters"] == [{"file": "book/instructor_guide"}]


def test_guide_commands_exist():
    guide = GUIDE.read_text()
    makefile = (ROOT / "Makefile").read_text()
    lines = [line for block in re.findall(r"```bash\n(.*?)```", guide, re.S) for line in block.splitlines()]
    commands = [line.split(" #")[0] for line in lines]  # the command, then "# or: make ..." in comments
    commands += [m for line in lines if " #" in line for m in re.findall(r"\bmake [\w-]+", line.split(" #", 1)[1])]
    commands += re.findall(r"`((?:make|python -m course_utils\.\w+) [^`]*)`", guide)
    parsers = {"course_utils.assign": assign.build_parser(), "course_utils.grade": grade.build_parser()}
    checked = set()
    for line in commands:
        words = shlex.split(line)
        if words[:2] == ["python", "-m"] and words[2] in parsers:
            parsers[words[2]].parse_args(words[3:])
            checked.add(words[2])
        elif words[:1] == ["make"]:
            for target in [w for w in words[1:] if "=" not in w]:
                assert re.search(rf"^{target}:", makefile, re.M), f"make {target}: no such target"
                checked.add(target)
    assert {"course_utils.assign", "course_utils.grade", "student", "book-student", "grade"} <= checked
    assert "course_utils.assign . --site -o _build/student-src" in makefile


def test_guide_gives_a_time_for_every_chapter():
    guide = GUIDE.read_text()
    for path in CHAPTERS:
        number = re.match(r"(\d+)_", path.name)
        if number:
            assert re.search(rf"^\| {int(number.group(1))}\. .*\| about \d+ min", guide, re.M), path.name
