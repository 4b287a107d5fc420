"""A local Sphinx extension: the scripts of the interactive pieces, on the pages that have them.

`course_utils` writes explorable figures (`explore.py`) and the draw-a-digit pad (`digit_pad.py`)
as HTML outputs of the chapters. Their scripts and styles live in `book/course_utils/web/`; this
extension serves that folder as static files and adds the scripts to a page only when the page
has such an output, so other pages stay light. Vega, Vega-Lite, vega-embed and ONNX Runtime Web
come from npm (`make` copies them to `book/_static/vendor/`), never from a CDN.
"""

from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "course_utils" / "web"
VENDOR = Path(__file__).resolve().parents[1] / "_static" / "vendor"
# marker in a page's HTML -> scripts it needs, in order
SCRIPTS = {
    "course-explorable": ["vendor/vega.min.js", "vendor/vega-lite.min.js", "vendor/vega-embed.min.js", "explorable.js"],
    "course-digit-pad": ["digit_pad.js"],
}


def _serve_web_folder(app, config):
    config.html_static_path.append(str(WEB))


def _check_vendor(app):
    if app.builder.format == "html" and not (VENDOR / "vega.min.js").is_file():
        raise RuntimeError(f"{VENDOR} is missing its scripts: run `make` (it copies them from node_modules)")


def _add_page_scripts(app, pagename, templatename, context, doctree):
    body = context.get("body") or ""
    needed = [name for marker, names in SCRIPTS.items() if marker in body for name in names]
    if needed:
        app.add_css_file("course.css")
    for name in needed:
        app.add_js_file(name, loading_method="defer")


def setup(app):
    app.connect("config-inited", _serve_web_folder)
    app.connect("builder-inited", _check_vendor)
    app.connect("html-page-context", _add_page_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
