"""The PDF of the book (`make site` builds it from the outputs of the HTML build; `make pdf` alone).

Read with poppler's tools, as a reader's viewer would: its text (`pdftotext`), the text of its prose
(`pdftohtml -xml`, which names each piece of text's font: the monospaced FreeMono is code), its
images (`pdfimages -list`), and the LaTeX log. The chapters' outputs come from the executed
notebooks of the HTML build (`_build/jupyter_execute`), the glued numbers from its pages.
"""

import base64
import re
import struct
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter

import nbformat
import pytest
from bs4 import BeautifulSoup

from site_support import EXECUTED, ROOT, SITE, is_notebook, source_text, toc_pages
from tools import chapter_format as cf

pytestmark = pytest.mark.published

LATEX = ROOT / "_build" / "pdf" / "_build" / "latex"
TARGET = cf.config()["latex"]["latex_documents"]["targetname"]
PDF_NAME = TARGET.removesuffix(".tex") + ".pdf"
PDF, LOG = LATEX / PDF_NAME, LATEX / TARGET.replace(".tex", ".log")
PAGES = toc_pages()
WEB_LINE = "Interactive on the book's web page:"
HIDDEN = {"remove-output", "remove_output", "remove-cell", "remove_cell"}


def poppler(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=300).stdout


@pytest.fixture(scope="module")
def pdf_text() -> str:
    if not PDF.is_file():
        pytest.fail(f"{PDF.relative_to(ROOT)} is missing: run `make site` (or `make pdf`)", pytrace=False)
    return poppler("pdftotext", "-enc", "UTF-8", str(PDF), "-")


@pytest.fixture(scope="module")
def prose() -> str:
    """The PDF's text outside code: every piece of text not set in the monospaced font."""
    root = ET.fromstring(poppler("pdftohtml", "-xml", "-i", "-q", "-stdout", str(PDF)))
    mono = {f.get("id") for f in root.iter("fontspec") if "Mono" in f.get("family", "")}
    return "\n".join("".join(t.itertext()) for t in root.iter("text") if t.get("font") not in mono)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def title(page: str) -> str:
    """A page's title: its first level-1 heading, without Markdown."""
    heading = re.search(r"^# (.+)$", source_text(page), re.M)
    assert heading, f"{page} has no '# Title' heading"
    return re.sub(r"[*_`]", "", heading.group(1)).strip()


def shown_outputs(page: str):
    """The rich outputs (display data, results) the page shows, from the executed notebook."""
    nb = nbformat.read(str(EXECUTED / f"{page}.ipynb"), as_version=4)
    for cell in cf.code_cells(nb):
        if not set(cf.tags(cell)) & HIDDEN:
            for output in cell.outputs:
                if output.output_type in ("display_data", "execute_result") and "scrapbook" not in output.metadata:
                    yield output


def latex_choice(output) -> str | None:
    """The form of an output that MyST-NB puts in the PDF (its priority list for LaTeX builders)."""
    from myst_nb.core.render import get_mime_priority

    overrides = cf.config()["sphinx"]["config"].get("nb_mime_priority_overrides", [])
    return next((m for m in get_mime_priority("latex", overrides) if m in output.data), None)


def is_interactive(output) -> bool:
    return "<script" in output.data.get("text/html", "")


# --- the file and its build ---------------------------------------------------------------------


def test_the_pdf_is_published_beside_the_pages():
    published = SITE / PDF_NAME
    assert PDF.is_file() and published.is_file(), "make site builds the PDF and copies it into _build/html"
    assert published.read_bytes() == PDF.read_bytes()
    assert f"PDF_NAME    := {PDF_NAME}" in (ROOT / "Makefile").read_text(), "Makefile and _config.yml disagree"
    pages = int(re.search(r"^Pages:\s+(\d+)", poppler("pdfinfo", str(PDF)), re.M).group(1))
    assert pages > 10 * len(PAGES), f"a book of {len(PAGES)} pages in {pages} PDF pages?"


def test_the_latex_log_has_no_errors():
    log = LOG.read_text(errors="replace")
    problems = [
        line
        for line in log.splitlines()
        if line.startswith("!")
        or "Missing character" in line  # a glyph the font lacks: printed as nothing
        or re.search(r"LaTeX (Error|Warning: (Reference|Citation)|Warning: There were undefined)", line)
    ]
    assert not problems, f"{LOG.name}:\n" + "\n".join(problems[:20])


# --- its text -----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_title_is_in_the_pdf(pdf_text, page):
    assert squeeze(title(page)).lower() in squeeze(pdf_text).lower()


@pytest.mark.parametrize("page", [p for p in PAGES if is_notebook(p)])
def test_glued_numbers_read_as_on_the_web_page(pdf_text, page):
    html = BeautifulSoup((SITE / f"{page}.html").read_text(encoding="utf-8"), "html.parser")
    glued = [span.get_text() for span in html.select("article .pasted-text")]
    if "{glue" in source_text(page):
        assert glued, f"{page} quotes glued values but its web page shows none"
    text, at = squeeze(pdf_text), 0
    for value in glued:  # in the order of the page
        found = text.find(squeeze(value), at)
        assert found >= 0, f"{page}: the glued value {value!r} is not in the PDF (after the previous one)"
        at = found + len(squeeze(value))


def test_no_unresolved_reference_and_no_raw_markup_in_the_prose(prose):
    """Code (monospaced) may show markup, as the instructor guide does; the prose may not."""
    for raw in ("??", "$", "\\", "{glue", "{doc}", "{ref}", "{numref}", ":::", "```"):
        at = prose.find(raw)  # an unresolved reference; TeX or MyST printed instead of typeset
        assert at < 0, f"{raw!r} in the PDF's prose: ...{prose[max(0, at - 80) : at + 80]}..."


# --- figures and interactive pieces -------------------------------------------------------------


def _png_size(data: str) -> tuple[int, int]:
    width, height = struct.unpack(">II", base64.b64decode(data)[16:24])
    return width, height


def test_every_figure_is_embedded(pdf_text):
    pngs, vector = Counter(), []
    for page in (p for p in PAGES if is_notebook(p)):
        for output in shown_outputs(page):
            choice = latex_choice(output)
            if choice == "image/png":
                pngs[_png_size(output.data["image/png"])] += 1
            elif choice == "application/pdf":
                vector.append((page, base64.b64decode(output.data["application/pdf"])))
    assert pngs, "no figure in the executed notebooks: is _build/jupyter_execute from `make site`?"
    listed = [line.split() for line in poppler("pdfimages", "-list", str(PDF)).splitlines()[2:]]
    embedded = Counter((int(row[3]), int(row[4])) for row in listed if row[2] == "image")
    missing = pngs - embedded
    assert not missing, f"figures (width, height) not embedded in the PDF: {dict(missing)}"
    for page, data in vector:  # vector figures (explorables) are drawn, not images: their words are there
        figure = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout
        words = figure.decode().split()[:8]
        assert words and squeeze(" ".join(words)) in squeeze(pdf_text), f"{page}: a vector figure is missing"


def test_interactive_pieces_print_their_static_form_and_point_to_the_web_page(pdf_text):
    expected = Counter()
    forms = Counter()
    for page in (p for p in PAGES if is_notebook(p)):
        for output in (o for o in shown_outputs(page) if is_interactive(o)):
            forms[latex_choice(output)] += 1
            expected[page] += 1
    assert set(forms) <= {"application/pdf", "image/png", "text/markdown"}, f"printed forms: {forms}"
    assert forms["application/pdf"] and forms["text/markdown"], "explorables print as PDF, quizzes as Markdown"
    lines = re.findall(rf"{re.escape(WEB_LINE)}\s*(\S+)", pdf_text)
    printed = Counter(re.sub(r"^.*/|\.html$", "", url) for url in lines)
    assert printed == Counter({page.split("/")[-1]: n for page, n in expected.items()})
    assert all(url.startswith("https://") and url.endswith(".html") for url in lines)


def test_the_pdf_says_it_is_the_instructor_edition_with_solutions(pdf_text):
    assert "Instructor edition, printed." in pdf_text
    assert "Solution to Exercise 1.1 " in pdf_text, "solutions are printed, numbered per chapter as on the web"
