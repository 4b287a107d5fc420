"""Explorable figures: charts with sliders and menus that work in the book's static pages.

A chapter computes a grid of results in its own code, writes a chart over them with Altair, and
shows it with `explorable`. The page filters the precomputed data in the browser (Vega-Lite,
served by the book itself), so no kernel and no network are needed. Beside the live chart the
output carries a static image of it, rendered offline by vl-convert, for readers without
JavaScript, for notebooks opened in Jupyter or Colab, and for the printed edition.

Introduced in chapter 2 (`optimizers`); `explorers` builds the charts of chapters 2 and 5 with it.
"""

import base64
import html
import json
from dataclasses import dataclass

VEGA_LITE_VERSION = "6.4"  # the Vega-Lite schema Altair writes; vl-convert must render the same
BOOK_PAGE_NOTE = "Interactive on the book's web page; this is its static image."


@dataclass
class Explorable:
    """A chart that the book's pages render live, with its static image for everything else.

    Attributes:
        spec: the Vega-Lite specification (a dict, as `altair.Chart.to_dict()` returns).
        description: one or two sentences saying what the figure shows and what the controls do;
            shown under the figure and read by screen readers.
        svg: the static image of the chart at its controls' initial values (SVG text), shown
            without JavaScript and in Jupyter or Colab.
        pdf: the same image as a PDF, for the printed edition (LaTeX prefers it to any other output).
    """

    spec: dict
    description: str
    svg: str
    pdf: bytes

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        pdf = base64.b64encode(self.pdf).decode("ascii")
        return {"text/html": self._html(), "application/pdf": pdf, "text/plain": self.description}

    def _html(self) -> str:
        spec = json.dumps(self.spec, separators=(",", ":")).replace("</", "<\\/")
        svg = base64.b64encode(self.svg.encode("utf-8")).decode("ascii")
        text = html.escape(self.description)
        return (
            '<figure class="course-explorable">'
            f'<div class="course-explorable-view"><img src="data:image/svg+xml;base64,{svg}" alt="{text}">'
            f'<p class="course-explorable-note">{html.escape(BOOK_PAGE_NOTE)}</p></div>'
            f'<script type="application/json" class="course-explorable-spec">{spec}</script>'
            f"<figcaption>{text}</figcaption></figure>"
        )


def explorable(chart, description: str, datasets: dict | None = None) -> Explorable:
    """Show an Altair chart as an explorable figure: live in the book, a static image elsewhere.

    Args:
        chart: an `altair` chart (or a Vega-Lite dict) whose parameters are bound to controls
            (``alt.param(bind=alt.binding_range(...))``).
        description: what the figure shows and what its controls change (the text alternative).
        datasets: rows for the chart's named data (``alt.Data(name=...)``), ``{name: [dict, ...]}``.
            Altair copies inline data at every step of building a chart (seconds for thousands of
            rows); named data keep the chart small until here.
    Returns:
        An `Explorable`; make it the last expression of a cell (or `display` it).
    Raises:
        ValueError: the description is empty, or Vega-Lite cannot render the chart.
    """
    import vl_convert

    if not description or not description.strip():
        raise ValueError("explorable() needs a description: one or two sentences on what the figure shows")
    # Altair's schema validation takes seconds on thousands of data rows; Vega-Lite's compiler
    # (through vl-convert, below) rejects an invalid chart anyway.
    spec = chart if isinstance(chart, dict) else chart.to_dict(validate=False)
    spec = {**spec, "description": description, "datasets": {**spec.get("datasets", {}), **(datasets or {})}}
    try:
        svg = vl_convert.vegalite_to_svg(spec, vl_version=VEGA_LITE_VERSION)
        pdf = vl_convert.vegalite_to_pdf(spec, vl_version=VEGA_LITE_VERSION)
    except ValueError as error:
        raise ValueError(f"Vega-Lite {VEGA_LITE_VERSION} cannot render the chart: {error}") from None
    return Explorable(spec, description.strip(), svg, pdf)
