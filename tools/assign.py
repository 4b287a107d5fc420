"""Student versions of the chapters, from the one source: the chapter notebooks in ``book/``.

    python -m course_utils.assign book/ -o student/                  # a student notebook per chapter
    python -m course_utils.assign book/ -o course/source --nbgrader    # nbgrader assignment sources
    python -m course_utils.assign . --site -o _build/student-src     # a student book to build

A student version keeps everything but the solutions: every ``### BEGIN SOLUTION`` ...
``### END SOLUTION`` region becomes ``raise NotImplementedError("Exercise 1.1 (<title>): ...")``
(the ``def`` line and docstring above the region stay, so the self-check says "not attempted"),
the solution dropdowns (``solution-start`` ... ``solution-end``, ``solution``) disappear from the
Markdown, self-check cells stay, outputs are cleared. A later cell that cannot run before an
exercise is done gets a comment that names the exercise and the ``raises-exception`` tag; so does
a stub outside any function (an answer that is a value), which stops the notebook where it is.

The code regions are cleared by nbgrader's own `ClearSolutions` preprocessor (so the markers mean
exactly what they mean to nbgrader), outputs by nbconvert's `ClearOutputPreprocessor`. Only the
Markdown side is done here: no library knows sphinx-exercise's directives inside notebooks.
nbgrader is imported lazily: ``import course_utils`` stays light.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import re
import shutil
import symtable
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import nbformat
from nbformat import NotebookNode

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SOLUTION_TAG, CHECK_TAG, RAISES_TAG = "exercise-solution", "self-check", "raises-exception"
STUB_LINE = re.compile(
    r'^(?P<indent>[ \t]*)raise NotImplementedError\((?P<message>"Exercise [^\n]*")\)[ \t]*$', re.MULTILINE
)
NEEDS_PREFIX = "# Needs "
DIRECTIVE = re.compile(r"^[ \t]*(?P<fence>:{3,}|`{3,})\{(?P<name>[\w-]+)\}[ \t]*(?P<argument>.*)$")
INSTRUCTOR_PAGE = re.compile(r"(^|/)instructor[^/]*$")


class AssignError(ValueError):
    """A chapter is not in the exercise format, so a student version would be wrong or leak."""


@dataclass(frozen=True)
class Exercise:
    """One ``{exercise}`` directive of a chapter: its number (``"1.2"``), title and label."""

    number: str
    title: str
    label: str

    @property
    def name(self) -> str:
        """How stubs and comments refer to it: ``Exercise 1.2 (Gradient descent from zero)``."""
        return f"Exercise {self.number} ({self.title or self.label})"

    def stub(self) -> str:
        """The line that replaces a solution region."""
        message = f"{self.name}: replace this line with your code"
        return f"raise NotImplementedError({json.dumps(message, ensure_ascii=False)})"


# --- Reading the exercise format -------------------------------------------------------------


def chapter_number(nb: NotebookNode, path: Path) -> str:
    """The chapter's number from its ``# N. Title`` heading, else from the ``NN_`` file name."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(\d+)\.\s", cell.source, re.MULTILINE)
            if match:
                return match.group(1)
    match = re.match(r"(\d+)", path.name)
    return str(int(match.group(1))) if match else "?"


def _block_end(lines: list[str], start: int, fence: str) -> int:
    """Index of the line that closes the directive opened at ``lines[start]`` with ``fence``."""
    for index in range(start + 1, len(lines)):
        if lines[index].strip() == fence:
            return index
    raise AssignError(f"directive {lines[start].strip()!r} is never closed by {fence!r}")


def _exercise_directives(source: str) -> list[tuple[str, str]]:
    """The ``(title, label)`` of each ``{exercise}`` or ``{exercise-start}`` directive in ``source``."""
    found, lines = [], source.splitlines()
    for index, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if match and match["name"] in ("exercise", "exercise-start"):
            block = lines[index + 1 : _block_end(lines, index, match["fence"])]
            label = next((b.split(":label:", 1)[1].strip() for b in block if b.strip().startswith(":label:")), "")
            found.append((match["argument"].strip(), label))
    return found


def find_exercises(nb: NotebookNode, chapter: str) -> list[Exercise]:
    """Every exercise of the chapter, numbered ``<chapter>.1``, ``<chapter>.2``, ... in order."""
    directives = [d for c in nb.cells if c.cell_type == "markdown" for d in _exercise_directives(c.source)]
    return [
        Exercise(f"{chapter}.{k}", title, label or f"{chapter}.{k}")
        for k, (title, label) in enumerate(directives, start=1)
    ]


def _strip_markdown(source: str, inside: str | None) -> tuple[str, str | None]:
    """Remove solution text from one Markdown source; ``inside`` is the open gated solution's label.

    Returns the remaining text and the label of a gated solution still open at the end.
    """
    lines, kept, index = source.splitlines(), [], 0
    while index < len(lines):
        match = DIRECTIVE.match(lines[index])
        name = match["name"] if match else None
        if inside is not None:  # inside a gated solution: drop everything up to its end
            if name == "solution-end":
                inside, index = None, _block_end(lines, index, match["fence"])
        elif name == "solution":
            index = _block_end(lines, index, match["fence"])
        elif name == "solution-start":
            inside, index = match["argument"].strip(), _block_end(lines, index, match["fence"])
        else:
            kept.append(lines[index])
        index += 1
    return "\n".join(kept).strip("\n"), inside


def strip_solution_text(source: str) -> str:
    """A Markdown page or cell without its ``solution`` and gated ``solution-start/-end`` blocks."""
    text, inside = _strip_markdown(source, None)
    if inside is not None:
        raise AssignError(f"the solution of {inside!r} has no solution-end")
    return text


def remove_solution_text(nb: NotebookNode, exercises: list[Exercise]) -> list[Exercise | None]:
    """Remove the solution text from ``nb``'s Markdown, in place; return each cell's exercise.

    A cell's exercise is the one whose gated solution contains it, else the latest one above it.
    Markdown cells left empty are dropped. A code cell inside a gated solution must be an
    nbgrader solution cell (or hold a solution region): anything else would leak.
    """
    by_label = {e.label: e for e in exercises}
    cells, owners, inside, seen = [], [], None, 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            seen += len(_exercise_directives(cell.source))
            text, inside = _strip_markdown(cell.source, inside)
            if not text and cell.source.strip():
                continue
            cell.source = text
        elif inside is not None and BEGIN not in cell.source and not cell.metadata.get("nbgrader", {}).get("solution"):
            raise AssignError(
                f"a code cell inside the solution of {inside!r} is not a solution cell "
                f"(no {BEGIN!r} region, no nbgrader solution metadata):\n{cell.source}"
            )
        latest = exercises[seen - 1] if seen else None
        cells.append(cell)
        owners.append(by_label.get(inside, latest) if inside is not None else latest)
    if inside is not None:
        raise AssignError(f"the solution of {inside!r} has no solution-end")
    nb.cells = cells
    return owners


# --- Clearing the solutions: nbgrader's ClearSolutions -----------------------------------------


def _exercise_stubs_preprocessor():
    """nbgrader's `ClearSolutions`, with a stub that names each cell's exercise (imported lazily)."""
    from nbgrader.preprocessors import ClearSolutions

    class ExerciseStubs(ClearSolutions):
        def preprocess_cell(self, cell, resources, index):
            exercise = resources["owners"][index] or Exercise("?", "", "")
            self.code_stub = dict(self.code_stub, **{resources["language"]: exercise.stub()})
            before = cell.source
            cell, resources = super().preprocess_cell(cell, resources, index)
            if cell.cell_type == "code" and cell.source != before:
                resources["stubbed"][index] = Stub(exercise, cell_names(before).bound)
            return cell, resources

    return ExerciseStubs()


class Stub(NamedTuple):
    """A code cell whose solution was replaced: its exercise, and the names the answer defined."""

    exercise: Exercise
    defines: set[str]


def stub_solutions(nb: NotebookNode, owners: list[Exercise | None]) -> dict[int, Stub]:
    """Replace every solution region of ``nb`` by its exercise's stub, in place.

    Returns the indices of the code cells that were changed.
    """
    resources = {"owners": owners, "stubbed": {}}
    _exercise_stubs_preprocessor().preprocess(nb, resources)
    return resources["stubbed"]


# --- Which later cells need an exercise --------------------------------------------------------


def _python(source: str) -> str | None:
    """The cell's source as plain Python (IPython magics translated), or None if it is not valid."""
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(source)
    try:
        ast.parse(code)
    except SyntaxError:
        return None
    return code


def _parse(source: str) -> ast.Module | None:
    """The cell's Python syntax tree, or None if it has none."""
    code = _python(source)
    return None if code is None else ast.parse(code)


class CellNames(NamedTuple):
    """The global names a code cell binds, reads and imports."""

    bound: set[str]
    used: set[str]
    imported: set[str]


def cell_names(source: str) -> CellNames:
    """The global names a cell binds, reads (anywhere, also inside its functions) and imports.

    Uses the standard library's `symtable`, so a function's parameters and locals do not count as
    reads of the notebook's variables of the same name.
    """
    code = _python(source)
    if code is None:
        return CellNames(set(), set(), set())
    table = symtable.symtable(code, "<cell>", "exec")
    top = table.get_symbols()
    bound = {s.get_name() for s in top if s.is_assigned() or s.is_imported()}
    used = {s.get_name() for s in top if s.is_referenced()}
    tables = list(table.get_children())
    while tables:
        child = tables.pop()
        used |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
        tables += child.get_children()
    return CellNames(bound, used, {s.get_name() for s in top if s.is_imported()})


def _is_stub(node: ast.AST) -> bool:
    """True for ``raise NotImplementedError("Exercise ...")``, the statement a stub is made of."""
    return (
        isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
        and node.exc.func.id == "NotImplementedError"
        and bool(node.exc.args)
        and isinstance(node.exc.args[0], ast.Constant)
        and str(node.exc.args[0].value).startswith("Exercise ")
    )


def runs_into_stub(source: str) -> bool:
    """True if running the cell itself reaches a stub: one outside every function, or a call
    at top level of a function the cell defines."""
    tree = _parse(source)
    if tree is None:
        return True
    if not any(_is_stub(node) for node in ast.walk(tree)):
        return False
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)

    def reaches(node: ast.AST) -> bool:
        return not isinstance(node, scopes) and (
            _is_stub(node) or any(reaches(child) for child in ast.iter_child_nodes(node))
        )

    return reaches(tree) or bool(_direct_calls(source) & cell_names(source).bound)


def _direct_calls(source: str) -> set[str]:
    """Names called at the top level of a cell, outside any function body."""
    tree = _parse(source)
    calls = set()
    if tree is None:
        return calls
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        calls.update(n.func.id for n in ast.walk(statement) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name))
    return calls


def cells_needing_exercises(nb: NotebookNode, stubbed: dict[int, Stub]) -> dict[int, list[Exercise]]:
    """The code cells of a student version that stop with an error until an exercise is done.

    A stub inside a function raises only when the function is called; a stub at top level raises
    when its cell runs, so nothing the answer would have defined exists. A later cell that uses such a name
    fails, and so does a cell that uses what a failing cell defines. A self-check cell may pass an
    exercise's function to its check (the check reports "not attempted"), but not call it.
    """
    raising: dict[str, list[Exercise]] = {}  # calling it raises NotImplementedError
    missing: dict[str, list[Exercise]] = {}  # it does not exist
    needs: dict[int, list[Exercise]] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        bound, used, _ = cell_names(cell.source)
        if index in stubbed:
            target = missing if runs_into_stub(cell.source) else raising
            for name in bound | stubbed[index].defines:
                target[name] = [stubbed[index].exercise]
            continue
        if CHECK_TAG in cell.metadata.get("tags", []):
            hits = (used & missing.keys()) | (_direct_calls(cell.source) & raising.keys())
        else:
            hits = used & (missing.keys() | raising.keys())
        if hits:
            exercises = sorted(
                {e for name in hits for e in missing.get(name, []) + raising.get(name, [])},
                key=lambda e: tuple(int(p) if p.isdigit() else 0 for p in e.number.split(".")),
            )
            needs[index] = exercises
            for name in bound:
                missing[name] = exercises
        else:  # a cell that runs and rebinds a name makes it usable again
            for name in bound:
                missing.pop(name, None)
                raising.pop(name, None)
    return needs


def _tag_raises(cell: NotebookNode) -> None:
    tags = cell.metadata.setdefault("tags", [])
    if RAISES_TAG not in tags:
        tags.append(RAISES_TAG)


def mark_cells(nb: NotebookNode, needs: dict[int, list[Exercise]], stubbed: dict[int, Stub]) -> None:
    """Say, in each cell that needs an exercise, which one, and tag it ``raises-exception``.

    A stub cell that raises when it runs (an answer outside any function) gets the tag too: its
    stub already names the exercise. The tag lets nbmake and the book's build accept the error.
    """
    for index, exercises in needs.items():
        cell = nb.cells[index]
        names = " and ".join(e.name for e in exercises)
        cell.source = f"{NEEDS_PREFIX}{names} above: this cell stops with an error until it is done.\n{cell.source}"
        _tag_raises(cell)
    for index in stubbed:
        if runs_into_stub(nb.cells[index].source):
            _tag_raises(nb.cells[index])


# --- The versions -------------------------------------------------------------------------------


def _prepare(nb: NotebookNode, path: Path) -> tuple[NotebookNode, list[Exercise | None]]:
    """A copy of ``nb`` without solution text, and each of its cells' exercise."""
    nb = copy.deepcopy(nb)
    owners = remove_solution_text(nb, find_exercises(nb, chapter_number(nb, path)))
    return nb, owners


def _clear_outputs(nb: NotebookNode) -> None:
    from nbconvert.preprocessors import ClearOutputPreprocessor

    ClearOutputPreprocessor().preprocess(nb, {})


def student_version(nb: NotebookNode, path: Path) -> NotebookNode:
    """The student version of the chapter ``nb`` read from ``path``; ``nb`` is not changed."""
    student, owners = _prepare(nb, path)
    stubbed = stub_solutions(student, owners)
    mark_cells(student, cells_needing_exercises(student, stubbed), stubbed)
    _clear_outputs(student)
    student.metadata["course"] = {"edition": "student", "source": Path(path).name}
    return student


def nbgrader_source(nb: NotebookNode, path: Path) -> NotebookNode:
    """The chapter as an nbgrader assignment source: solutions kept, solution text removed.

    Self-check cells become locked autograder tests worth one point each (run ``nbgrader
    autograde`` with ``COURSE_CHECK_STRICT=1`` so that a failed check fails its cell).
    """
    source, owners = _prepare(nb, path)
    student = copy.deepcopy(source)
    stubbed = stub_solutions(student, owners)
    mark_cells(source, cells_needing_exercises(student, stubbed), {})  # solution cells keep their answers
    checks = 0
    for cell, exercise in zip(source.cells, owners):
        if cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", []):
            checks += 1
            label = exercise.label if exercise else f"check-{checks}"
            cell.metadata["nbgrader"] = {
                "grade": True,
                "solution": False,
                "locked": True,
                "points": 1,
                "grade_id": f"check-{label}-{checks}",
                "schema_version": 3,
            }
    _clear_outputs(source)
    source.metadata["course"] = {"edition": "nbgrader-source", "source": Path(path).name}
    return source


def solution_regions(nb: NotebookNode) -> list[str]:
    """The reference code between the solution markers, region by region, in notebook order."""
    regions = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            regions += re.findall(rf"^[^\n]*{BEGIN}[^\n]*\n(.*?)\n?^[^\n]*{END}", cell.source, re.M | re.S)
    return regions


def fill_in(student: NotebookNode, answers: list[str | None]) -> NotebookNode:
    """A copy of a student version whose stubs are replaced, in order, by ``answers``.

    Each answer is code with its full indentation, as between the solution markers; None keeps
    that stub (the exercise stays unanswered).
    """
    filled, remaining = copy.deepcopy(student), list(answers)

    def answer(stub: re.Match) -> str:
        given = remaining.pop(0) if remaining else None
        return stub.group(0) if given is None else given

    for cell in filled.cells:
        if cell.cell_type == "code":
            cell.source = STUB_LINE.sub(answer, cell.source)
    return filled


# --- Writing them -------------------------------------------------------------------------------


def chapter_notebooks(source: Path) -> list[Path]:
    """The notebooks directly in ``source`` (a folder), or ``source`` itself (a notebook)."""
    return [source] if source.suffix == ".ipynb" else sorted(source.glob("*.ipynb"))


def write_versions(sources: list[Path], out: Path, nbgrader: bool = False) -> list[Path]:
    """Write the student version (or nbgrader source) of every chapter notebook in ``sources``.

    Student versions go to ``out/<chapter>.ipynb``; nbgrader sources to
    ``out/<chapter>/<chapter>.ipynb``, one nbgrader assignment per chapter.
    """
    written = []
    for path in sources:
        nb = nbformat.read(path, as_version=4)
        version = nbgrader_source(nb, path) if nbgrader else student_version(nb, path)
        target = out / path.stem / path.name if nbgrader else out / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(version, target)
        written.append(target)
    return written


def _toc_without_instructor_pages(toc: dict) -> dict:
    """The table of contents minus the pages for instructors (``instructor*``) and empty parts."""

    def entries(items: list[dict]) -> list[dict]:
        kept = [dict(i) for i in items if not INSTRUCTOR_PAGE.search(i.get("file", ""))]
        for item in kept:
            if "sections" in item:
                item["sections"] = entries(item["sections"])
        return kept

    toc = copy.deepcopy(toc)
    if "chapters" in toc:
        toc["chapters"] = entries(toc["chapters"])
    if "parts" in toc:
        toc["parts"] = [dict(p, chapters=entries(p.get("chapters", []))) for p in toc["parts"]]
        toc["parts"] = [p for p in toc["parts"] if p["chapters"]]
    return toc


def toc_pages(toc: dict) -> list[str]:
    """Every page of a Jupyter Book table of contents, root first."""

    def files(items: list[dict]) -> list[str]:
        return [f for i in items for f in ([i["file"]] if "file" in i else []) + files(i.get("sections", []))]

    return (
        [toc["root"]]
        + files(toc.get("chapters", []))
        + files([c for part in toc.get("parts", []) for c in part.get("chapters", [])])
    )


def _page_path(root: Path, page: str) -> Path:
    """The file of a table-of-contents entry, which may leave out its suffix."""
    path = root / page
    return path if path.suffix in (".md", ".ipynb") else next(path.parent.glob(path.name + ".*"))


def write_student_book(root: Path, out: Path, branch: str = "student") -> Path:
    """Write a student edition of the book at ``root`` (``_config.yml``, ``_toc.yml``) to ``out``.

    Chapters become student versions, Markdown pages lose their solution blocks, instructor pages
    leave the table of contents, sphinx-exercise's ``hide_solutions`` is on, and the launch and
    download buttons point at ``branch``, where the instructor publishes the student notebooks.
    Build it with ``jupyter-book build <out>``.

    ``hide_solutions`` alone would not do: sphinx-exercise 1.2.1 keeps the gated content and the
    build fails on the ``solution-end`` node, and the page sources and download button would still
    carry the solutions. Here it only guards against a solution block that a page might still hold.
    """
    import yaml

    root, out = Path(root), Path(out)
    if out.exists():
        shutil.rmtree(out)
    config = yaml.safe_load((root / "_config.yml").read_text())
    config["title"] = f"{config.get('title', 'Book')} (student edition)"
    config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    config.setdefault("repository", {})["branch"] = branch
    toc = _toc_without_instructor_pages(yaml.safe_load((root / "_toc.yml").read_text()))
    skip = shutil.ignore_patterns("*.ipynb", "*.md", "__pycache__", ".ipynb_checkpoints", "*.egg-info", "_build")
    for top in {Path(f).parts[0] for f in toc_pages(toc) if len(Path(f).parts) > 1} | {"binder"}:
        if (root / top).is_dir():  # the pages' folder, with course_utils and static files; Binder's set-up
            shutil.copytree(root / top, out / top, ignore=skip)
    for name in ("requirements.txt", "pyproject.toml", "README.md"):  # so that the branch installs
        if (root / name).exists():
            shutil.copy2(root / name, out / name)
    for page in toc_pages(toc):
        source = _page_path(root, page)
        target = out / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".ipynb":
            nbformat.write(student_version(nbformat.read(source, as_version=4), source), target)
        else:
            target.write_text(strip_solution_text(source.read_text()) + "\n")
    (out / ".gitignore").write_text("_build/\n__pycache__/\n.ipynb_checkpoints/\n")
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False, allow_unicode=True))
    return out


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m course_utils.assign``."""
    parser = argparse.ArgumentParser(prog="python -m course_utils.assign", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "source",
        type=Path,
        nargs="+",
        help="chapter notebooks or folders of them (with --site: the book's root folder)",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder to write to")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--nbgrader", action="store_true", help="write nbgrader assignment sources (OUTPUT/<chapter>/<chapter>.ipynb)"
    )
    mode.add_argument("--site", action="store_true", help="write a whole student book, ready for jupyter-book")
    parser.add_argument(
        "--branch",
        default="student",
        help="with --site: the repository branch that holds the student notebooks (default: student)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.site:
            out = write_student_book(args.source[0], args.output, args.branch)
            print(f"Student book written to {out}; build it with: jupyter-book build {out}")
            return 0
        sources = [p for s in args.source for p in chapter_notebooks(s)]
        for path in write_versions(sources, args.output, nbgrader=args.nbgrader):
            print(f"wrote {path}")
    except AssignError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
