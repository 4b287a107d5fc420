"""Student versions of the chapters, from the one source: the chapter notebooks in ``book/``.

    python -m tools.assign book/ -o student/                  # a student notebook per chapter
    python -m tools.assign . --site -o _build/student-src     # a student book to build

A student version keeps everything but the solutions: every ``### BEGIN SOLUTION`` ...
``### END SOLUTION`` region becomes ``raise NotImplementedError("Exercise 1.1 (<title>): ...")``
(the ``def`` line and docstring above the region stay, so the self-check says "not attempted"),
the solution dropdowns (``solution-start`` ... ``solution-end``, ``solution``) disappear from the
Markdown, self-check cells stay, outputs are cleared.

Which cells stop with an error until an exercise is done is a rule the author sees in the source:

* a cell tagged ``needs-answer`` needs the answer of the exercise above it: in the student version
  it is tagged ``raises-exception`` and its first line says which exercise it needs;
* a solution region that starts at the beginning of a line is an answer outside any function (a
  value): its stub raises when the cell runs, so that cell is tagged ``raises-exception`` too.

tests/test_instructors.py executes every student version to prove the tags right.

The code regions are cleared by nbgrader's own `ClearSolutions` preprocessor (so the markers mean
exactly what they mean to nbgrader), outputs by nbconvert's `ClearOutputPreprocessor`. Only the
Markdown side is done here: no library knows sphinx-exercise's directives inside notebooks.
"""

from __future__ import annotations

import argparse
import copy
import json
import posixpath
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml
from nbformat import NotebookNode

from tools import chapter_format as cf

NEEDS_PREFIX = "# Needs "
DIRECTIVE = re.compile(r"^[ \t]*(?P<fence>:{3,}|`{3,})\{(?P<name>[\w-]+)\}[ \t]*(?P<argument>.*)$")
VALUE_ANSWER = re.compile(rf"^{cf.BEGIN}", re.MULTILINE)  # a region at the start of a line: outside any function


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


INCLUDE = re.compile(r"^[ \t]*(?::{3,}|`{3,})\{include\}[ \t]+(?P<path>\S+)", re.MULTILINE)
DOC_ROLE = re.compile(r"\{doc\}`(?:[^`<]*<)?(?P<target>[^`>]+)>?`")


def without_links_to(source: str, page: str, removed: set[str]) -> str:
    """Markdown ``source`` of ``page`` without the sentences that link (``{doc}``) to a page of ``removed``.

    The student edition leaves the instructor pages out; a sentence pointing to one would be a broken
    link, and it is addressed to instructors anyway. A paragraph left empty goes too.
    """

    def links_out(sentence: str) -> bool:
        for match in DOC_ROLE.finditer(sentence):
            target = match["target"].strip()
            name = target.lstrip("/") if target.startswith("/") else posixpath.join(posixpath.dirname(page), target)
            if posixpath.normpath(name) in removed:
                return True
        return False

    paragraphs = []
    for paragraph in source.split("\n\n"):
        if links_out(paragraph):
            sentences = re.split(r"(?<=[.!?])\s+", " ".join(paragraph.split("\n")))
            paragraph = " ".join(s for s in sentences if not links_out(s))
        if paragraph.strip():
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


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
        elif (
            inside is not None and cf.BEGIN not in cell.source and not cell.metadata.get("nbgrader", {}).get("solution")
        ):
            raise AssignError(
                f"a code cell inside the solution of {inside!r} is not a solution cell "
                f"(no {cf.BEGIN!r} region, no nbgrader solution metadata):\n{cell.source}"
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
            if cell.cell_type == "code" and cell.source != before and VALUE_ANSWER.search(before):
                resources["value_stubs"].append(index)
            return cell, resources

    return ExerciseStubs()


def stub_solutions(nb: NotebookNode, owners: list[Exercise | None]) -> list[int]:
    """Replace every solution region of ``nb`` by its exercise's stub, in place.

    Returns the indices of the cells whose stub raises when the cell runs (an answer outside any
    function, whose region starts at the beginning of a line).
    """
    resources = {"owners": owners, "value_stubs": []}
    _exercise_stubs_preprocessor().preprocess(nb, resources)
    return resources["value_stubs"]


def _tag_raises(cell: NotebookNode) -> None:
    """Replace the ``needs-answer`` tag of a cell by ``raises-exception``."""
    cell.metadata["tags"] = [t for t in cf.tags(cell) if t != cf.NEEDS_ANSWER]
    if cf.RAISES not in cell.metadata["tags"]:
        cell.metadata["tags"].append(cf.RAISES)


def mark_cells(nb: NotebookNode, owners: list[Exercise | None], value_stubs: list[int]) -> None:
    """Tag ``raises-exception`` the cells that stop with an error until an exercise is done.

    A cell tagged ``needs-answer`` also gets a first line naming the exercise above it.

    Raises:
        AssignError: a cell tagged ``needs-answer`` comes before any exercise.
    """
    for index, cell in enumerate(nb.cells):
        if cf.NEEDS_ANSWER in cf.tags(cell):
            if owners[index] is None:
                raise AssignError(f"a cell tagged {cf.NEEDS_ANSWER!r} comes before any exercise:\n{cell.source}")
            note = f"{NEEDS_PREFIX}{owners[index].name} above: this cell stops with an error until it is done."
            cell.source = f"{note}\n{cell.source}"
            _tag_raises(cell)
    for index in value_stubs:
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


def point_colab_at(nb: NotebookNode, url: str, branch: str) -> None:
    """Make the Colab set-up cell of ``nb`` install ``course_utils`` from ``branch`` of ``url``, in place.

    Raises:
        AssignError: the notebook has a Colab set-up cell that does not install from ``url``.
    """
    for cell in cf.code_cells(nb, cf.COLAB_SETUP):
        pattern = rf"git\+{re.escape(url)}@[\w./-]+"
        if not re.search(pattern, cell.source):
            raise AssignError(f"the {cf.COLAB_SETUP} cell does not install from {url}:\n{cell.source}")
        cell.source = re.sub(pattern, f"git+{url}@{branch}", cell.source)


def student_version(nb: NotebookNode, path: Path, colab_from: tuple[str, str] | None = None) -> NotebookNode:
    """The student version of the chapter ``nb`` read from ``path``; ``nb`` is not changed.

    With ``colab_from``, a ``(repository url, branch)``, its Colab set-up cell installs
    ``course_utils`` from that branch (the student edition's notebooks and their ``course_utils``
    come from one branch).
    """
    student, owners = _prepare(nb, path)
    mark_cells(student, owners, stub_solutions(student, owners))
    _clear_outputs(student)
    if colab_from is not None:
        point_colab_at(student, *colab_from)
    student.metadata[cf.COURSE] = {cf.EDITION: "student", cf.SOURCE: Path(path).name}
    return student


# --- Writing them -------------------------------------------------------------------------------


def chapter_notebooks(source: Path) -> list[Path]:
    """The notebooks directly in ``source`` (a folder), or ``source`` itself (a notebook)."""
    return [source] if source.suffix == ".ipynb" else sorted(source.glob("*.ipynb"))


def write_versions(sources: list[Path], out: Path) -> list[Path]:
    """Write the student version of every chapter notebook in ``sources`` to ``out/<chapter>.ipynb``."""
    written = []
    for path in sources:
        target = out / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(student_version(nbformat.read(path, as_version=4), path), target)
        written.append(target)
    return written


def _copy_support_files(root: Path, out: Path, pages: list[str]) -> None:
    """Copy what the student book needs besides its pages: the pages' folders (with course_utils and
    static files) and Binder's set-up, and the files that let the branch be installed."""
    skip = shutil.ignore_patterns("*.ipynb", "*.md", "__pycache__", ".ipynb_checkpoints", "*.egg-info", "_build")
    for top in {Path(p).parts[0] for p in pages if len(Path(p).parts) > 1} | {"binder"}:
        if (root / top).is_dir():
            shutil.copytree(root / top, out / top, ignore=skip)
    for name in ("requirements.txt", "pyproject.toml", "README.md"):
        if (root / name).exists():
            shutil.copy2(root / name, out / name)


def write_student_book(root: Path, out: Path, branch: str = "student") -> Path:
    """Write a student edition of the book at ``root`` (``_config.yml``, ``_toc.yml``) to ``out``.

    Chapters become student versions, Markdown pages lose their solution blocks, instructor pages
    leave the table of contents (and the sentences that link to them go), the files that pages
    ``{include}`` come along (without solutions either), sphinx-exercise's
    ``hide_solutions`` is on, the root page says it is the student edition (``course_edition``,
    `book/_ext/editions.py`), and the launch buttons and the chapters' Colab set-up cells point at
    ``branch``, where the student notebooks are published (deploy.yml pushes this folder there).
    Build it with ``jupyter-book build <out>``.

    ``hide_solutions`` alone would not do: sphinx-exercise 1.2.1 keeps the gated content and the
    build fails on the ``solution-end`` node, and the page sources and download button would still
    carry the solutions. Here it only guards against a solution block that a page might still hold.
    """
    root, out = Path(root), Path(out)
    if out.exists():
        shutil.rmtree(out)
    config = cf.config(root)
    config["title"] = f"{config.get('title', 'Book')} (student edition)"
    # book/_ext/editions.py: the root page says it is the student edition, and links to nothing else
    config.setdefault("sphinx", {}).setdefault("config", {}).update(hide_solutions=True, course_edition="student")
    config.setdefault("repository", {})["branch"] = branch
    colab_from = (cf.repository(root)[0], branch)
    site = cf.without_pages(cf.site_map(root), cf.is_instructor_page)
    removed = set(cf.pages(cf.site_map(root))) - set(cf.pages(site))
    _copy_support_files(root, out, cf.pages(site))
    for page in cf.pages(site):
        source = cf.page_file(page, root)
        target = out / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".ipynb":
            nb = student_version(nbformat.read(source, as_version=4), source, colab_from)
            for cell in nb.cells:
                if cell.cell_type == "markdown":
                    cell.source = without_links_to(cell.source, page, removed)
            nbformat.write(nb, target)
        else:
            for included in [source] + [source.parent / m["path"] for m in INCLUDE.finditer(source.read_text())]:
                text = without_links_to(strip_solution_text(included.read_text()), page, removed)
                (out / included.relative_to(root)).write_text(text + "\n")
    (out / ".gitignore").write_text("_build/\n__pycache__/\n.ipynb_checkpoints/\n")
    (out / cf.CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    (out / cf.TOC_FILE).write_text(cf.toc_yaml(site))
    return out


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m tools.assign``."""
    parser = argparse.ArgumentParser(prog="python -m tools.assign", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "source",
        type=Path,
        nargs="+",
        help="chapter notebooks or folders of them (with --site: the book's root folder)",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder to write to")
    parser.add_argument("--site", action="store_true", help="write a whole student book, ready for jupyter-book")
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
        for path in write_versions(sources, args.output):
            print(f"wrote {path}")
    except AssignError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
