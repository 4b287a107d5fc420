"""The chapter format, defined once: the names that tools, tests and benchmarks read in the book.

The README's *Writing a chapter* explains the format in words; this module names its parts: the
cell tags, the solution markers, the ``course`` metadata of a notebook, the book's configuration
(``_config.yml``) and its table of contents (``_toc.yml``, read with `sphinx_external_toc`'s parser,
as Jupyter Book reads it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import yaml
from nbformat import NotebookNode
from sphinx_external_toc.api import SiteMap
from sphinx_external_toc.parsing import create_toc_dict, parse_toc_data, parse_toc_yaml

ROOT = Path(__file__).resolve().parents[1]  # the repository: _config.yml, _toc.yml, book/, tools/
CONFIG_FILE, TOC_FILE = "_config.yml", "_toc.yml"
PAGE_SUFFIXES = (".ipynb", ".md")

# --- Cell tags ----------------------------------------------------------------------------------
COLAB_SETUP = "colab-setup"  # the first code cell: installs course_utils in Colab (tools.nbtools writes it)
COLAB_TAGS = [COLAB_SETUP, "remove-cell"]  # ... and Jupyter Book leaves it out of the HTML
FROM_SCRATCH = "from-scratch"  # hand-written code that tests/ load (tests/nbdefs.py)
SOLUTION = "exercise-solution"  # an exercise's reference solution, between the markers below
SELF_CHECK = "self-check"  # a cell that calls a cu.check_... function
NEEDS_ANSWER = "needs-answer"  # a cell that stops with an error until the exercise above it is done
RAISES = "raises-exception"  # Jupyter Book and nbmake accept an error in such a cell
CNN_MODEL, CNN_TRAIN = "cnn-model", "cnn-train"  # the CNN chapter's model and main training (benchmarks/)

# --- Solution markers (nbgrader's) --------------------------------------------------------------
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

# --- Notebook metadata: nb.metadata["course"] ----------------------------------------------------
COURSE = "course"
CPU_ONLY = "cpu_only"  # why the notebook never uses a GPU (NumPy only, say)
EDITION = "edition"  # "student" in a student version
SOURCE = "source"  # a student version's chapter, as a file name


def tags(cell: NotebookNode) -> list[str]:
    """The tags of a cell (``[]`` if it has none)."""
    return cell.metadata.get("tags", [])


def code_cells(nb: NotebookNode, tag: str | None = None) -> list[NotebookNode]:
    """The code cells of ``nb``, in order; only those tagged ``tag`` if it is given."""
    return [c for c in nb.cells if c.cell_type == "code" and (tag is None or tag in tags(c))]


def course_metadata(nb: NotebookNode) -> dict:
    """The notebook's ``course`` metadata (``{}`` if it has none)."""
    return nb.metadata.get(COURSE, {})


def cpu_only_reason(nb: NotebookNode) -> str | None:
    """Why a notebook runs on the CPU by design (its ``course.cpu_only``), else None.

    A forced-CUDA run then expects nothing of it; tests/test_notebooks.py checks that such a
    notebook never asks for a device, and that every other notebook does.
    """
    return course_metadata(nb).get(CPU_ONLY)


def config(root: Path = ROOT) -> dict:
    """The book's ``_config.yml``."""
    return yaml.safe_load((Path(root) / CONFIG_FILE).read_text(encoding="utf-8"))


def repository(root: Path = ROOT) -> tuple[str, str]:
    """The repository's ``(url, branch)`` from ``_config.yml``: launch buttons and the Colab cell use them."""
    repo = config(root)["repository"]
    return repo["url"].rstrip("/"), repo["branch"]


def site_map(root: Path = ROOT) -> SiteMap:
    """The table of contents, ``_toc.yml``, parsed by `sphinx_external_toc` (as Jupyter Book does)."""
    return parse_toc_yaml(Path(root) / TOC_FILE)


def pages(site: SiteMap) -> list[str]:
    """The pages of a table of contents in reading order, root first (``"book/01_linear_models"``).

    The parser adds them to the site map depth first, in the order of the file.
    """
    return list(site)


def page_file(page: str, root: Path = ROOT) -> Path:
    """The source file of a page of the table of contents (a notebook or a Markdown file)."""
    path = Path(root) / page
    if path.suffix in PAGE_SUFFIXES and path.is_file():
        return path
    for suffix in PAGE_SUFFIXES:
        if path.with_name(path.name + suffix).is_file():
            return path.with_name(path.name + suffix)
    raise FileNotFoundError(f"no {' or '.join(PAGE_SUFFIXES)} file for the {TOC_FILE} entry {page!r} in {root}")


def without_pages(site: SiteMap, drop: Callable[[str], bool]) -> SiteMap:
    """A copy of ``site`` without the pages for which ``drop(page)`` is true, nor their sub-pages.

    Parts (toctrees) left empty go too. The root page always stays.
    """
    site = copy.deepcopy(site)
    for document in site.values():
        for tree in document.subtrees:
            tree.items = [item for item in tree.items if not (isinstance(item, str) and drop(item))]
        document.subtrees = [tree for tree in document.subtrees if tree.items]
    return parse_toc_data(create_toc_dict(site))  # parsed again: only the pages still reachable


def toc_yaml(site: SiteMap) -> str:
    """A site map as the text of a ``_toc.yml``."""
    return yaml.safe_dump(create_toc_dict(site), sort_keys=False, allow_unicode=True)


def is_instructor_page(page: str) -> bool:
    """True for a page meant for instructors only (named ``instructor*``): student editions leave it out."""
    return Path(page).name.startswith("instructor")


def book_dir(root: Path = ROOT) -> Path:
    """The folder of the book's pages: that of the table of contents' root page (``book/``)."""
    return (Path(root) / site_map(root).root.docname).parent


def notebooks(book: Path | None = None) -> list[Path]:
    """Every notebook in the book's folder (chapters and appendices), by file name."""
    book = BOOK if book is None else Path(book)
    return sorted(p for p in book.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


BOOK = book_dir()
