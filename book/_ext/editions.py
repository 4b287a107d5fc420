"""A local Sphinx extension: the book's editions, and what the printed one says for interactive pieces.

The same sources make three editions: the instructor edition (the default build, solutions in
dropdowns), the student edition (`tools/assign.py` writes it, with ``course_edition: student``) and
the PDF (the instructor edition through LaTeX). Configuration values (``sphinx.config``):

* ``course_edition``: ``"instructor"`` (default) or ``"student"``;
* ``course_pdf``, ``course_student_edition``: where the published site keeps the PDF and the student
  edition, relative to the site's root (empty: not published, so not linked);
* ``course_site_url``: the web edition's address, for the PDF's links (empty: derived from the
  GitHub repository url, ``https://<owner>.github.io/<name>/``).

Two post-transforms (they run for each builder, so the HTML and the LaTeX builds of one set of
doctrees each get their own text):

* the root page gets a note after its first paragraph: which edition this is, and links to the
  others where they should be (the student edition never links to the solutions);
* in LaTeX, an output that is interactive in HTML (its HTML has a script) is printed as its static
  form (`myst_nb` picks a PDF, PNG or Markdown alternative for LaTeX) followed by a line with the
  address of the chapter's web page.
"""

from __future__ import annotations

import posixpath
import re

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

EDITIONS = ("instructor", "student")
STATIC_TYPES = ("application/pdf", "image/png", "image/jpeg", "text/markdown")


def site_url(config) -> str:
    """The web edition's address, with a final slash ("" if unknown)."""
    url = config.course_site_url or ""
    if not url:
        repository = (config.html_theme_options or {}).get("repository_url", "")
        match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", repository)
        url = f"https://{match[1].lower()}.github.io/{match[2]}/" if match else ""
    return url if not url or url.endswith("/") else url + "/"


def _link(text: str, url: str) -> nodes.reference:
    return nodes.reference("", text, refuri=url)


def _sentence(*parts) -> list:
    """Text and nodes, as the children of a paragraph."""
    return [nodes.Text(p) if isinstance(p, str) else p for p in parts]


def edition_note(app, docname: str) -> nodes.paragraph:
    """The note that says which edition the reader is on (the root page shows it)."""
    config, printed = app.config, app.builder.format == "latex"
    edition = config.course_edition
    paragraph = nodes.paragraph(classes=["course-edition-note"])
    label = f"{edition.capitalize()} edition{', printed' if printed else ''}."
    paragraph += nodes.strong(text=label)
    if edition == "student":
        paragraph += nodes.Text(
            " The exercises come without their solutions: the self-check cell under each exercise "
            "tells you whether your answer works, without giving it away."
        )
        return paragraph
    if printed:
        paragraph += nodes.Text(" Each exercise is followed by its solution.")
        url = site_url(config)
        if url:
            web = " The interactive figures, the quizzes and the digit pad work on the web edition, "
            paragraph += _sentence(web, _link(url, url), ".")
        return paragraph
    paragraph += nodes.Text(" The solution of each exercise is under it, in a closed dropdown.")
    to_root = posixpath.relpath(".", posixpath.dirname(app.builder.get_target_uri(docname)) or ".")
    if config.course_student_edition:
        target = posixpath.join(to_root, config.course_student_edition, app.builder.get_target_uri(docname))
        paragraph += _sentence(" Students have their own ", _link("student edition", target), ", without solutions.")
    if config.course_pdf:
        target = posixpath.join(to_root, config.course_pdf)
        offline = " to read offline, print or annotate."
        paragraph += _sentence(" The whole book is also a ", _link("PDF", target), offline)
    return paragraph


class EditionNote(SphinxPostTransform):
    """Put the edition note after the lead paragraph of the root page."""

    default_priority = 20

    def run(self, **kwargs) -> None:
        docname = self.env.docname
        if docname != self.config.root_doc:
            return
        if self.config.course_edition not in EDITIONS:
            raise ValueError(f"course_edition must be one of {EDITIONS}, not {self.config.course_edition!r}")
        note = edition_note(self.app, docname)
        # the page's lead paragraph: the first one of a section, not one inside an admonition
        first = next((p for p in self.document.findall(nodes.paragraph) if isinstance(p.parent, nodes.section)), None)
        if first is None:
            self.document += note
        else:
            first.parent.insert(first.parent.index(first) + 1, note)


class WebPageLines(SphinxPostTransform):
    """In LaTeX, follow each interactive output's static form with the address of its web page.

    Runs before myst_nb's `SelectMimeType` (priority 4), while an output still has all its forms.
    """

    default_priority = 3
    formats = ("latex",)

    def run(self, **kwargs) -> None:
        for bundle in list(self.document.findall(nodes.container)):
            if bundle.get("nb_element") != "mime_bundle":
                continue
            page = site_url(self.config) + _page_of(bundle, self.env.docname) + ".html"
            forms = {child.get("mime_type"): child for child in bundle.children}
            interactive = "<script" in (forms["text/html"].astext() if "text/html" in forms else "")
            if interactive and any(t in forms for t in STATIC_TYPES):
                line = nodes.paragraph(classes=["course-web-page-line"])
                line += nodes.emphasis(text="Interactive on the book's web page: ")
                line += _link(page, page) if page.startswith("http") else nodes.Text(self.env.docname)
                bundle.parent.insert(bundle.parent.index(bundle) + 1, line)


def _page_of(node: nodes.Node, default: str) -> str:
    """The page a node comes from: LaTeX builds the whole book as one document of included pages,
    whose sections Sphinx marks with their page's ``docname``."""
    while node is not None:
        if isinstance(node, nodes.section) and node.get("docname"):
            return node["docname"]
        node = node.parent
    return default


def _chapter_numbers_in_latex(app) -> None:
    """Number exercises, figures and equations per chapter (Exercise 1.2) in LaTeX, as on the web.

    sphinx-jupyterbook-latex sets ``numfig_secnum_depth`` to 2 when the book has parts, which
    would print Exercise 1.10.2 for what the web page and the student notebooks call Exercise 1.2.
    """
    if app.builder.format == "latex":
        app.config.numfig_secnum_depth = 1


def setup(app):
    app.add_config_value("course_edition", "instructor", "env", [str])
    app.add_config_value("course_pdf", "", "env", [str])
    app.add_config_value("course_student_edition", "", "env", [str])
    app.add_config_value("course_site_url", "", "env", [str])
    app.add_post_transform(EditionNote)
    app.add_post_transform(WebPageLines)
    app.connect("builder-inited", _chapter_numbers_in_latex, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
