"""The editions that `make site` publishes (deploy.yml): the instructor edition, its PDF and the
student edition in `student/`, whose sources (`_build/student-src`) deploy.yml pushes to the student
branch. The student edition also passes every browser test (`make test-browser-student`).

The tests marked `published` read the built site; the others check the tools that make it.
"""

import re
import shlex
from pathlib import Path

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

from site_support import SITE
from test_instructors import _site_text, normalise, plain, solution_parts
from tools import assign, publish
from tools import chapter_format as cf
from tools.chapter_format import BOOK, ROOT

STUDENT_SITE = SITE / "student"
STUDENT_SRC = ROOT / "_build" / "student-src"
ROOT_PAGE = cf.site_map().root.docname  # book/intro
CHAPTERS = cf.notebooks()
published = pytest.mark.published


def page(site: Path, name: str) -> BeautifulSoup:
    return BeautifulSoup((site / f"{name}.html").read_text(encoding="utf-8"), "html.parser")


def note(site: Path) -> BeautifulSoup:
    found = page(site, ROOT_PAGE).select(".course-edition-note")
    assert len(found) == 1, f"the root page of {site} has {len(found)} edition notes"
    return found[0]


# --- the tools ----------------------------------------------------------------------------------


def test_site_config_executes_once_into_a_cache_and_links_the_editions(tmp_path):
    out = tmp_path / "build" / "site-config.yml"
    publish.main(["config", "-o", str(out), "--cache", str(tmp_path / "cache"), "--pdf", "book.pdf",
                  "--student-edition", "student/"])  # fmt: skip
    config = yaml.safe_load(out.read_text())
    assert config["execute"]["execute_notebooks"] == "cache" and config["execute"]["cache"] == str(tmp_path / "cache")
    assert cf.config()["execute"]["execute_notebooks"] == "force", "_config.yml itself never serves cached outputs"
    links = config["sphinx"]["config"]
    assert (links["course_pdf"], links["course_student_edition"]) == ("book.pdf", "student/")
    assert "course_site_url" not in links, "no address given: the extension derives GitHub Pages' address"
    for name, folder in config["sphinx"]["local_extensions"].items():  # read relative to the config file
        assert (out.parent / folder / f"{name}.py").is_file(), f"{name}: {folder} from {out.parent}"
    without = tmp_path / "instructor-only.yml"
    publish.main(["config", "-o", str(without), "--pdf", "book.pdf"])
    assert "course_student_edition" not in yaml.safe_load(without.read_text())["sphinx"]["config"]


def test_makefile_publishes_what_the_site_config_links():
    makefile = (ROOT / "Makefile").read_text()
    assert "--student-edition student/" in makefile and "_build/html/student" in makefile
    assert re.search(r"^\tcp \$\(PDF\) _build/html/\$\(PDF_NAME\)$", makefile, re.M)
    assert re.search(r"^test-browser-student:\n\tCOURSE_BOOK_ROOT=_build/student-src COURSE_SITE=_build/html/student ",
                     makefile, re.M)  # fmt: skip


def test_sentences_that_link_to_left_out_pages_go():
    text = (
        "The appendix, {doc}`fast`, measures speed. Instructors will find\nmore in the {doc}`the guide "
        "<instructor_guide>`.\n\nSee {doc}`/book/instructor_guide`.\n\nKept {doc}`other`."
    )
    kept = assign.without_links_to(text, "book/intro", {"book/instructor_guide"})
    assert kept == "The appendix, {doc}`fast`, measures speed.\n\nKept {doc}`other`."


def test_colab_cells_of_the_student_book_install_from_its_branch(tmp_path):
    out = assign.write_student_book(ROOT, tmp_path / "student-book", branch="spring")
    url, branch = cf.repository()
    assert cf.config(out)["sphinx"]["config"]["course_edition"] == "student"
    for path in (out / "book").glob("*.ipynb"):
        (cell,) = cf.code_cells(nbformat.read(path, as_version=4), cf.COLAB_SETUP)
        assert f"git+{url}@spring" in cell.source and f"@{branch}" not in cell.source, path.name
    intro = cf.page_file(ROOT_PAGE, out).read_text()
    assert "instructor_guide" not in intro and "{doc}`making_training_fast`" in intro
    for included in re.findall(r"\{include\}\s+(\S+)", intro):  # the notation table
        assert (cf.page_file(ROOT_PAGE, out).parent / included).is_file(), f"{included} is missing"
    nb = nbformat.read(CHAPTERS[0], as_version=4)
    with pytest.raises(assign.AssignError, match="does not install from"):
        assign.point_colab_at(nb, "https://github.com/someone/else", "student")


# --- the published site -------------------------------------------------------------------------


@published
def test_instructor_edition_says_so_and_links_the_student_edition_and_the_pdf():
    found = note(SITE)
    assert found.get_text().startswith("Instructor edition.")
    links = {a.get_text(): a["href"] for a in found.select("a[href]")}
    assert links == {"student edition": f"../student/{ROOT_PAGE}.html", "PDF": "../deep-learning-executed.pdf"}
    for href in links.values():
        assert (SITE / ROOT_PAGE).parent.joinpath(href).resolve().is_file(), href


@published
def test_student_edition_says_so_and_links_to_no_other_edition():
    found = note(STUDENT_SITE)
    assert found.get_text().startswith("Student edition.") and not found.select("a")
    for path in STUDENT_SITE.rglob("*.html"):
        hrefs = [a["href"] for a in BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").select("a[href]")]
        outside = [
            h
            for h in hrefs
            if h.startswith("../") and not (path.parent / h.split("#")[0]).resolve().is_relative_to(STUDENT_SITE)
        ]
        assert not outside, f"{path.relative_to(SITE)} links out of the student edition: {outside}"
        assert not any(h.endswith(".pdf") for h in hrefs), (
            f"{path.relative_to(SITE)} links to the PDF (it has solutions)"
        )
    assert not (STUDENT_SITE / "book" / "instructor_guide.html").exists()


@published
def test_student_edition_has_no_solution_anywhere():
    """Every page, `_sources`, the downloadable notebooks, and the sources pushed to the student branch."""
    texts = _site_text(STUDENT_SITE)
    texts |= {p: "\n".join(normalise(line) for line in p.read_text().splitlines()) for p in STUDENT_SRC.rglob("*.md")}
    for path in (STUDENT_SRC / "book").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        texts[path] = "\n".join(normalise(line) for c in nb.cells for line in c.source.splitlines())
    assert any(p.parent.name == "book" and "_sources" in p.parts and p.suffix == ".ipynb" for p in texts)
    leaks, distinctive, sources = set(), 0, {p: nbformat.read(p, as_version=4) for p in CHAPTERS}
    for chapter, nb in sources.items():
        code, text = solution_parts(nb)
        # a line that another chapter also has (nn.Flatten(), say) tells nothing about this one's solutions
        elsewhere = {line.strip() for p, other in sources.items() if p != chapter for c in other.cells
                     for line in c.source.splitlines()}  # fmt: skip
        code, text = code - elsewhere, text - elsewhere
        distinctive += len(code)
        sentences = {plain(line) for line in text if plain(line)}
        for path, content in texts.items():
            lines = set(content.splitlines())
            leaks |= {(str(path), line) for line in code if normalise(line) in lines}
            leaks |= {(str(path), s) for s in sentences if s in normalise(content)}
    assert distinctive > 10, "too few distinctive solution lines: the test could not see a leak"
    assert not leaks, f"solutions in the student edition: {sorted(leaks)[:20]}"


@published
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_student_launch_links_and_colab_cells_point_at_the_student_branch(chapter):
    url, main = cf.repository()
    _, branch = cf.repository(STUDENT_SRC)
    assert branch != main, "the student edition must open the student branch, not the instructor's"
    name = f"{BOOK.name}/{chapter.stem}"
    html = page(STUDENT_SITE, name)
    launch = [a["href"] for a in html.select(".dropdown-launch-buttons a[href]")]
    org_repo = url.removeprefix("https://github.com/")
    assert f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{name}.ipynb" in launch
    assert any(h.startswith(f"https://mybinder.org/v2/gh/{org_repo}/{branch}?") for h in launch), launch
    student = nbformat.read(STUDENT_SITE / "_sources" / f"{name}.ipynb", as_version=4)
    assert cf.course_metadata(student)[cf.EDITION] == "student"
    (cell,) = cf.code_cells(student, cf.COLAB_SETUP)
    assert shlex.quote(f"course-utils @ git+{url}@{branch}").strip("'") in cell.source
