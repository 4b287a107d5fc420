"""What the browser tests need to know about the book, without a browser.

The pages come from `_toc.yml` and the expected launch links from `_config.yml`, so a new chapter
is covered as soon as it is listed, and a changed repository url or branch is checked as written.

The book under test is this repository's (the instructor edition, built in `_build/html`) unless
``COURSE_BOOK_ROOT`` names another book's sources and ``COURSE_SITE`` its built site:
`make test-browser-student` runs the same browser tests on the student edition that way.
"""

import functools
import http.server
import os
import posixpath
import re
import shutil
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tools import chapter_format as cf
from tools.chapter_format import ROOT

BOOK_ROOT = Path(os.environ.get("COURSE_BOOK_ROOT") or ROOT).resolve()  # its _config.yml, _toc.yml, pages
SITE = Path(os.environ.get("COURSE_SITE") or BOOK_ROOT / "_build" / "html").resolve()
EXECUTED = BOOK_ROOT / "_build" / "jupyter_execute"
EDITION = cf.config(BOOK_ROOT).get("sphinx", {}).get("config", {}).get("course_edition", "instructor")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots" / EDITION
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
THEMES = ["light", "dark"]  # the colour schemes every page is tested in
# Debian's chromium, headless, without the background traffic that a closed network refuses
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-domain-reliability",
]


def toc_pages() -> list[str]:
    """The pages of the book, e.g. ``["book/intro", "book/01_linear_models"]``."""
    return cf.pages(cf.site_map(BOOK_ROOT))


def is_notebook(page: str) -> bool:
    return cf.page_file(page, BOOK_ROOT).suffix == ".ipynb"


def source_text(page: str) -> str:
    """The Markdown of a page: the whole file, or a notebook's Markdown cells joined."""
    path = cf.page_file(page, BOOK_ROOT)
    if path.suffix != ".ipynb":
        return path.read_text()
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def launch_urls(page: str) -> dict:
    """The Colab, Binder and download links a notebook page must offer, from `_config.yml`."""
    cfg = cf.config(BOOK_ROOT)
    repo, buttons = cfg["repository"], cfg["launch_buttons"]
    org_repo = urlsplit(repo["url"]).path.strip("/")
    branch = repo.get("branch", "main")
    notebook = posixpath.join(repo.get("path_to_book", "") or "", page + ".ipynb")
    interface = {"classic": "tree", "jupyterlab": "lab/tree"}[buttons.get("notebook_interface", "classic")]
    return {
        "repository": repo["url"].rstrip("/"),
        "notebook_in_repo": notebook,
        "colab": f"{buttons['colab_url'].rstrip('/')}/github/{org_repo}/blob/{branch}/{notebook}",
        "binder": f"{buttons['binderhub_url'].rstrip('/')}/v2/gh/{org_repo}/{branch}?urlpath={interface}/{notebook}",
        "download": f"_sources/{page}.ipynb",
    }


def search_word(text: str) -> str:
    """A word a reader might search for: the longest plain word of a paragraph (first if tied)."""
    words = re.findall(r"\b[A-Za-z]{6,}\b", text)
    if not words:
        raise ValueError(f"no word of 6 letters or more in {text[:80]!r}")
    return max(words, key=len).lower()


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)


@functools.cache
def anchors(html_file: Path) -> frozenset:
    """The ids (and ``<a name>``) a page defines, that is the fragments a link may point to."""
    parser = _Ids()
    parser.feed(html_file.read_text(errors="replace"))
    return frozenset(parser.ids)


def broken_internal_link(url: str) -> str | None:
    """Why an internal link of the built site is broken (a missing file or anchor), or None."""
    parts = urlsplit(url)
    path = SITE / unquote(parts.path).lstrip("/")
    if parts.path.endswith("/") or path.is_dir():
        path = path / "index.html"
    if not path.is_file():
        return f"{url}: no such file in _build/html"
    fragment = unquote(parts.fragment)
    if fragment and path.suffix == ".html" and fragment not in anchors(path):
        return f"{url}: {path.relative_to(SITE)} has no anchor #{fragment}"
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class StaticServer:
    """`http.server` serving a folder on 127.0.0.1 and a free port, in a daemon thread."""

    def __init__(self, folder: Path):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def is_local(url: str) -> bool:
    """True for the book's own host (the test server on 127.0.0.1) and for inline URLs."""
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"
