"""Instructor tooling: student versions, the grader, the student site and the guide.

Executing notebooks is the slow part, so each one is executed as few times as possible:

* Every chapter with exercises, once: one kernel runs its whole student version (it stops only in
  the cells that the `needs-answer` rule tags `raises-exception`, and every check fails), then the
  reference solutions filled in, re-running the solution, self-check and `raises-exception` cells
  (every check passes). Static tests cover the rest: no solution line survives, the stubs replace
  exactly the solution regions, the rule's tags are where it says.
* Chapter 1, three times in full through the grader: a correct, a partly wrong and an untouched
  submission.
* The student site: the book cut down to chapter 1 and its pages, built as instructor and as
  student edition. A full build executes every chapter (minutes); `make test-book` does that.
"""

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
from course_utils.checks import LOG_ENV_VAR, CheckFailed, CheckResult, self_check
from tools import assign, grade
from tools import chapter_format as cf
from tools.chapter_format import BOOK, ROOT

CHAPTERS = cf.notebooks()
FIRST = BOOK / "01_linear_models.ipynb"
GUIDE = BOOK / "instructor_guide.md"
# Subprocesses and kernels import this checkout's course_utils and tools, and find the environment's commands.
ENV = {k: v for k, v in os.environ.items() if k != LOG_ENV_VAR}
ENV["PYTHONPATH"] = os.pathsep.join([str(BOOK), str(ROOT)] + ([ENV["PYTHONPATH"]] if ENV.get("PYTHONPATH") else []))
ENV["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), ENV.get("PATH", "")])
chapters = pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
# The stub that replaces a solution region, as the guide shows it.
STUB_LINE = re.compile(
    r'^(?P<indent>[ \t]*)raise NotImplementedError\((?P<message>"Exercise [^\n]*")\)[ \t]*$', re.MULTILINE
)
ANSWER_MISSING = ("NotImplementedError", "NameError")  # how a cell fails before an exercise is done


def run(*args, cwd: Path = ROOT, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run a command with `ENV`; fail the test with its output if it fails."""
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


code_cells, tags = cf.code_cells, cf.tags


def solution_regions(nb) -> list[str]:
    """The reference code between the solution markers, region by region, in notebook order."""
    pattern = rf"^[^\n]*{cf.BEGIN}[^\n]*\n(.*?)\n?^[^\n]*{cf.END}"
    return [region for cell in code_cells(nb) for region in re.findall(pattern, cell.source, re.M | re.S)]


def fill_in(student, answers: list[str | None]):
    """A copy of a student version whose stubs are replaced, in order, by ``answers``.

    Each answer is code with its full indentation, as between the solution markers; None keeps
    that stub (the exercise stays unanswered).
    """
    filled, remaining = copy.deepcopy(student), list(answers)

    def answer(stub: re.Match) -> str:
        given = remaining.pop(0) if remaining else None
        return stub.group(0) if given is None else given

    for cell in code_cells(filled):
        cell.source = STUB_LINE.sub(answer, cell.source)
    return filled


def normalise(text: str) -> str:
    """Whitespace collapsed, and Sphinx's typographic quotes and dashes back to ASCII."""
    return " ".join(
        text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "--", "—": "---"})).split()
    )


def solution_parts(nb) -> tuple[set[str], set[str]]:
    """The distinctive lines of a chapter's solutions: code lines between the markers and text
    lines inside gated solutions that occur nowhere else in the chapter. Found here without
    `tools.assign`, so the tests do not reuse what they test."""
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
            elif cf.BEGIN in line or cf.END in line:
                region = cf.BEGIN in line
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
    run(sys.executable, "-m", "tools.assign", "book/", "-o", out)
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
    solution_cells = [c for c in code_cells(nb) if cf.BEGIN in c.source]
    grade_ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in solution_cells]
    assert all(c.metadata.get("nbgrader", {}).get("solution") for c in solution_cells), "nbgrader solution metadata"
    assert len(set(grade_ids)) == len(grade_ids) and None not in grade_ids, f"nbgrader grade_ids: {grade_ids}"
    for cell in code_cells(student):  # an answer outside a function stops the notebook at its stub: say so
        if any(stub["indent"] == "" for stub in STUB_LINE.finditer(cell.source)):
            assert cf.RAISES in tags(cell), cell.source
    for cell in code_cells(nb):
        if cf.SELF_CHECK in tags(cell):
            one = new_notebook(cells=[cell])
            assert grade.expected_checks(one), f"self-check cell calls no @self_check function of cu: {cell.source}"


# --- Student versions ---------------------------------------------------------------------------


@chapters
def test_student_versions_contain_no_solution(path, student_dir):
    nb, student = read(path), read(student_dir / path.name)
    solution_code, solution_text = solution_parts(nb)
    if any(cf.BEGIN in c.source for c in code_cells(nb)):
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
    regions = solution_regions(nb)
    assert len(STUB_LINE.findall("\n".join(c.source for c in code_cells(student)))) == len(regions)

    def lines(notebook, drop) -> list[str]:
        return ["\n".join(line for line in c.source.splitlines() if not drop(line)) for c in code_cells(notebook)]

    filled = fill_in(student, regions)
    assert lines(filled, lambda line: line.startswith(assign.NEEDS_PREFIX)) == lines(
        nb, lambda line: cf.BEGIN in line or cf.END in line
    ), "filling in the references must give the chapter's code back"
    exercises = {e.label: e for e in assign.find_exercises(nb, assign.chapter_number(nb, path))}
    for source_cell, student_cell in zip(code_cells(nb), code_cells(student)):
        label = source_cell.metadata.get("nbgrader", {}).get("grade_id")
        if cf.BEGIN in source_cell.source and label in exercises:
            exercise = exercises[label]
            assert f'"Exercise {exercise.number} ({exercise.title or label}): ' in student_cell.source


@chapters
def test_student_versions_keep_checks_and_clear_outputs(path, student_dir):
    nb, student = read(path), read(student_dir / path.name)
    assert student.metadata[cf.COURSE] == {cf.EDITION: "student", cf.SOURCE: path.name}
    assert all(not c.outputs and c.execution_count is None for c in code_cells(student))
    checks = [c.source for c in code_cells(nb, cf.SELF_CHECK)]
    kept = [
        "\n".join(line for line in c.source.splitlines() if not line.startswith(assign.NEEDS_PREFIX))
        for c in code_cells(student, cf.SELF_CHECK)
    ]
    assert kept == checks
    for source, cell in zip(code_cells(nb), code_cells(student)):  # the same code cells, in order
        needs = cf.NEEDS_ANSWER in tags(source)
        value_answer = any(line.startswith(cf.BEGIN) for line in source.source.splitlines())
        assert cell.source.startswith(assign.NEEDS_PREFIX) == needs and cf.NEEDS_ANSWER not in tags(cell)
        assert (cf.RAISES in tags(cell)) == (needs or value_answer or cf.RAISES in tags(source)), cell.source


def _set_log(path: Path):
    return new_code_cell(f"import os\nos.environ[{LOG_ENV_VAR!r}] = {str(path)!r}")


def _errors(cells) -> list[str]:
    return [
        f"{o.ename}: {o.evalue}\n{c.source}" for c in cells for o in c.get("outputs", []) if o.output_type == "error"
    ]


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _execute(nb) -> None:
    """Run every cell of ``nb`` in one fresh kernel in book/, errors allowed (each stays in its outputs)."""
    for k, cell in enumerate(nb.cells):
        cell.id = f"run-{k}"  # a cell may appear twice: as a stub, then filled in
    NotebookClient(
        nb, timeout=600, allow_errors=True, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}
    ).execute(env=ENV)


@chapters
def test_student_version_stops_only_where_tagged_and_the_reference_answers_pass(path, student_dir, tmp_path):
    """One kernel: the whole student version, then the reference answers filled in.

    The student version stops only in the cells it tags raises-exception, and each of the cells it
    tagged (from needs-answer, or an answer outside a function) stops with NotImplementedError or
    NameError: so the source's needs-answer tags are right, neither missing nor superfluous. Every
    check fails there. Then the solution, self-check and raises-exception cells run again with the
    reference answers filled in: no error, and every check passes.
    """
    nb, student = read(path), read(student_dir / path.name)
    expected, regions = grade.expected_checks(nb), solution_regions(nb)
    if not regions:  # no exercise: the student version is the chapter's code, nothing can stop
        assert not expected and [c.source for c in code_cells(student)] == [c.source for c in code_cells(nb)]
        return
    filled = fill_in(student, regions)
    rerun = [i for i, c in enumerate(student.cells) if {cf.SELF_CHECK, cf.SOLUTION, cf.RAISES} & set(tags(c))]
    stubs, answers = tmp_path / "stubs.jsonl", tmp_path / "answers.jsonl"
    first, second = [copy.deepcopy(c) for c in code_cells(student)], [copy.deepcopy(filled.cells[i]) for i in rerun]
    run_nb = new_notebook(metadata=student.metadata)
    run_nb.cells = [_set_log(stubs), *first, _set_log(answers), *second]  # executed in place: first, second
    _execute(run_nb)

    unexpected = [
        f"{o.ename}: {o.evalue}\n{c.source}"
        for c in first
        for o in c.outputs
        if o.output_type == "error" and not (cf.RAISES in tags(c) and o.ename in ANSWER_MISSING)
    ]
    assert not unexpected, (
        "the student version stopped outside the cells tagged raises-exception, or with an error other than "
        f"{' or '.join(ANSWER_MISSING)}:\n" + "\n".join(unexpected)
    )
    superfluous = [
        c.source
        for source, c in zip(code_cells(nb), first)
        if cf.RAISES in tags(c) and cf.RAISES not in tags(source) and not _errors([c])
    ]
    assert not superfluous, "tagged raises-exception by the student version, but ran:\n" + "\n".join(superfluous)
    results = _log(stubs)
    assert not any(r["passed"] for r in results), f"checks passed on stubs: {results}"
    unmarked_checks = new_notebook(cells=[c for c in first if cf.SELF_CHECK in tags(c) and cf.RAISES not in tags(c)])
    assert {r["name"] for r in results} == set(grade.expected_checks(unmarked_checks))

    assert not _errors(second), "with the reference solutions:\n" + "\n".join(_errors(second))
    passed = {r["name"]: r["passed"] for r in _log(answers)}
    assert passed == dict.fromkeys(expected, True), f"with the reference solutions: {_log(answers)}"


# --- The parts of the format that chapter 1 does not exercise: a small made-up chapter ---------

NEEDS = {"tags": [cf.NEEDS_ANSWER]}
SOLUTION = {
    "tags": [cf.SOLUTION],
    "nbgrader": {"solution": True, "grade": False, "locked": False, "grade_id": "ex-toy", "schema_version": 3},
}


def toy_chapter(
    *,
    gated_code: str = (
        'def double(x):\n    """Twice x."""\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION'
    ),
    metadata: dict | None = None,
):
    """A chapter with one exercise, text around its solution, later cells tagged as needing the
    answer, a non-gated solution block, and an exercise whose answer is a value."""
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
            new_code_cell("check(double)", metadata={"tags": [cf.SELF_CHECK]}),
            new_code_cell("table = [double(i) for i in range(3)]", metadata=NEEDS),
            new_code_cell("print(sum(table))", metadata=NEEDS),
            new_code_cell("print('independent cell ran')"),
            new_markdown_cell("::::{solution} ex-toy\n:class: dropdown\n\n```python\nsecret = 42\n```\n::::\nThe end."),
            new_markdown_cell(
                ":::{exercise} A value\n:label: ex-value\n\nSet `answer`.\n:::\n\n"
                ":::{solution-start} ex-value\n:class: dropdown\n:::"
            ),
            new_code_cell(
                "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION",
                metadata={"tags": [cf.SOLUTION], "nbgrader": dict(SOLUTION["nbgrader"], grade_id="ex-value")},
            ),
            new_markdown_cell(":::{solution-end}\n:::"),
            new_code_cell("print('answer is', answer)", metadata={"tags": [cf.SELF_CHECK, cf.NEEDS_ANSWER]}),
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
    marked = [c.source for c in code_cells(student, cf.RAISES)]
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
    assert not _errors([c for c in code_cells(student) if cf.RAISES not in tags(c)])
    outputs = {c.source.splitlines()[-1]: "".join(o.get("text", "") for o in c.outputs) for c in code_cells(student)}
    assert outputs["check(double)"] == "not attempted\n"
    assert outputs["print('independent cell ran')"] == "independent cell ran\n"
    assert outputs["print('last cell ran')"] == "last cell ran\n"
    assert "NotImplementedError" in _errors([code_cells(student)[3]])[0]  # table = [double(i) ...]


def test_a_cell_tagged_needs_answer_before_any_exercise_is_an_error():
    chapter = toy_chapter()
    chapter.cells[1].metadata["tags"] = [cf.NEEDS_ANSWER]
    with pytest.raises(assign.AssignError, match="needs-answer' comes before any exercise"):
        assign.student_version(chapter, Path("07_toy.ipynb"))


# --- Checks -------------------------------------------------------------------------------------


def test_checks_keep_their_name_and_log_results(tmp_path, monkeypatch, capsys):
    @self_check("Exercise 0.1 (demo)")
    def check_demo(value) -> None:
        if value != 1:
            raise CheckFailed("not one yet", "try 1")

    assert check_demo.check_name == "Exercise 0.1 (demo)"
    monkeypatch.setenv(LOG_ENV_VAR, str(tmp_path / "log.jsonl"))
    assert check_demo(1).passed and not check_demo(2).passed  # a wrong answer never raises
    assert [r["passed"] for r in _log(tmp_path / "log.jsonl")] == [True, False]
    assert capsys.readouterr().out.count("❌ Exercise 0.1 (demo): not one yet\n   Hint: try 1") == 1


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

NO_BIAS_COLUMN = "    return np.linalg.solve(X.T @ X, X.T @ y), 0.0"  # exercise 1.2 without the column of ones
TENSOR_LOSSES = (  # exercise 1.3, returning the losses as tensors
    "    losses = []\n    for i in range(len(X)):\n        loss = loss_fn(model(X[i : i + 1]), y[i : i + 1])\n"
    "        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()\n"
    "        losses.append(loss)\n    return losses"
)


@pytest.fixture(scope="module")
def graded(student_dir, tmp_path_factory) -> tuple[dict, dict]:
    """alice answered everything, bob one exercise right and two wrong, carol nothing."""
    student, reference = read(student_dir / FIRST.name), solution_regions(read(FIRST))
    folder = tmp_path_factory.mktemp("grading")
    submissions = {"alice": reference, "bob": [reference[0], NO_BIAS_COLUMN, TENSOR_LOSSES], "carol": []}
    for name, answers in submissions.items():
        (folder / "submitted" / name).mkdir(parents=True)
        nbformat.write(fill_in(student, answers), folder / "submitted" / name / FIRST.name)
    run(
        sys.executable,
        "-m",
        "tools.grade",
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
    student.cells = [c for c in student.cells if cf.SELF_CHECK not in tags(c)]
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


# --- The student book ---------------------------------------------------------------------------


def test_student_book_of_the_repository_can_be_pushed_and_launched(tmp_path):
    out = assign.write_student_book(ROOT, tmp_path / "student-book", branch="spring")
    config, pages = cf.config(out), cf.pages(cf.site_map(out))
    assert config["repository"]["branch"] == "spring" and config["sphinx"]["config"]["hide_solutions"] is True
    assert not any(cf.is_instructor_page(page) for page in pages) and "book/instructor_guide" not in pages
    assert not (out / "book" / GUIDE.name).exists()
    assert sorted(p.name for p in (out / "book").glob("*.ipynb")) == sorted(
        p.name for p in CHAPTERS if f"book/{p.stem}" in pages
    )
    for needed in ["pyproject.toml", "requirements.txt", "book/course_utils/__init__.py", ".gitignore"] + [
        p.relative_to(ROOT).as_posix() for p in (ROOT / "binder").glob("*")
    ]:
        assert (out / needed).is_file(), f"{needed} is missing: Binder or pip could not install the student branch"
    assert all(cf.course_metadata(read(nb))[cf.EDITION] == "student" for nb in (out / "book").glob("*.ipynb"))


# --- The student site: chapter 1 built as instructor and as student edition ----------------------


def _mini_book(root: Path) -> Path:
    """A copy of the book whose table of contents keeps the Markdown pages and chapter 1."""
    others = [p for p in CHAPTERS if p != FIRST]
    site = cf.without_pages(cf.site_map(), lambda page: cf.page_file(page) in others)
    shutil.copytree(
        BOOK,
        root / "book",
        ignore=shutil.ignore_patterns(
            *[p.name for p in others], "course_utils", "*.egg-info", "__pycache__", ".ipynb_checkpoints", "_build"
        ),
    )
    (root / cf.TOC_FILE).write_text(cf.toc_yaml(site))
    shutil.copy(ROOT / cf.CONFIG_FILE, root / cf.CONFIG_FILE)
    return root


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> tuple[Path, Path]:
    """The instructor and student editions of the cut-down book, built with Jupyter Book."""
    tmp = tmp_path_factory.mktemp("site")
    instructor = _mini_book(tmp / "instructor")
    run(sys.executable, "-m", "tools.assign", instructor, "--site", "-o", tmp / "student")
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
    toc = yaml.safe_load((ROOT / cf.TOC_FILE).read_text())
    captions = [p["caption"] for p in toc["parts"]]
    assert captions[-1] == "For instructors" and captions.index("Chapters") < len(captions) - 1
    assert toc["parts"][-1]["chapters"] == [{"file": "book/instructor_guide"}]


def test_guide_commands_exist():
    guide = GUIDE.read_text()
    makefile = (ROOT / "Makefile").read_text()
    lines = [line for block in re.findall(r"```bash\n(.*?)```", guide, re.S) for line in block.splitlines()]
    commands = [line.split(" #")[0] for line in lines]  # the command, then "# or: make ..." in comments
    commands += [m for line in lines if " #" in line for m in re.findall(r"\bmake [\w-]+", line.split(" #", 1)[1])]
    commands += re.findall(r"`((?:make|python -m tools\.\w+) [^`]*)`", guide)
    parsers = {"tools.assign": assign.build_parser(), "tools.grade": grade.build_parser()}
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
    assert {"tools.assign", "tools.grade", "student", "book-student", "grade"} <= checked
    assert "tools.assign . --site -o _build/student-src" in makefile


def test_guide_gives_a_time_for_every_chapter():
    guide = GUIDE.read_text()
    for path in CHAPTERS:
        number = re.match(r"(\d+)_", path.name)
        if number:
            assert re.search(rf"^\| {int(number.group(1))}\. .*\| about \d+ min", guide, re.M), path.name
