import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

import course_utils as cu
from nbdefs import load_definitions
from site_support import CHROMIUM, CHROMIUM_ARGS, ROOT, SITE, THEMES, StaticServer, is_local
from tools import chapter_format as cf


@pytest.fixture
def toy_classification():
    """A separable 3-class problem: 300 points in 2-D, int64 labels."""
    gen = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = torch.arange(3).repeat_interleave(100)
    X = centers[y] + 0.5 * torch.randn(300, 2, generator=gen)
    return X, y


@pytest.fixture
def mnist():
    """Full MNIST from the local data directory (CI copies the files there)."""
    return cu.load_mnist(allow_fallback=False)


@pytest.fixture(scope="module")
def scratch(request):
    """The hand-written definitions (cells tagged ``from-scratch``) of the test module's ``NOTEBOOK``."""
    return load_definitions(request.module.NOTEBOOK, cf.FROM_SCRATCH)


@pytest.fixture(scope="module")
def solutions(request):
    """The exercises' reference solutions (cells tagged ``exercise-solution``) of ``NOTEBOOK``."""
    return load_definitions(request.module.NOTEBOOK, cf.SOLUTION)


# --- the built book in headless Chromium (tests marked `browser`) ---------------------------------

TIMEOUT_MS = 60_000  # generous: CI has two cores, shared with notebook kernels


@dataclass
class Visit:
    """A loaded page and what happened while it loaded."""

    page: object
    console_errors: list = field(default_factory=list)
    failed_local: list = field(default_factory=list)
    external: list = field(default_factory=list)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        pytest.fail(f"{SITE.relative_to(ROOT)} is not built: run `make site` before the browser tests", pytrace=False)
    return SITE


@pytest.fixture(scope="session")
def server(site):
    with StaticServer(site) as srv:
        yield srv


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's `chromium` (apt-get install chromium)", pytrace=False)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def contexts(browser):
    made = {theme: browser.new_context(color_scheme=theme, viewport={"width": 1280, "height": 900}) for theme in THEMES}
    for context in made.values():
        context.set_default_timeout(TIMEOUT_MS)
    yield made
    for context in made.values():
        context.close()


def _load(context, origin: str, name: str, query: str = "") -> Visit:
    """Open ``name`` in a new tab of ``context``; wait until it is quiet and its math is typeset."""
    tab = context.new_page()
    visit, in_flight = Visit(tab), set()
    tab.on("console", lambda m: m.type == "error" and visit.console_errors.append(f"{m.text} ({m.location})"))
    tab.on("pageerror", lambda e: visit.console_errors.append(f"uncaught: {e}"))
    tab.on("request", lambda r: in_flight.add(r))
    tab.on("requestfinished", lambda r: in_flight.discard(r))
    tab.on("requestfailed", lambda r: in_flight.discard(r))
    tab.on("requestfailed", lambda r: is_local(r.url) and visit.failed_local.append(f"{r.url}: {r.failure}"))
    tab.on("response", lambda r: r.status >= 400 and visit.failed_local.append(f"{r.url}: HTTP {r.status}"))

    def route(request_route):
        url = request_route.request.url
        if is_local(url):
            request_route.continue_()
        else:
            visit.external.append(url)
            request_route.abort()

    tab.route("**/*", route)
    tab.goto(f"{origin}/{name}.html{query}", wait_until="load")
    _wait_until_quiet(tab, in_flight)
    tab.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    return visit


def _wait_until_quiet(tab, in_flight: set, quiet_s: float = 0.5) -> None:
    """Wait until no request has been in flight for ``quiet_s`` (Playwright's own "networkidle"
    sometimes never fires for a tab opened next to others)."""
    deadline, quiet_since = time.monotonic() + TIMEOUT_MS / 1000, None
    while time.monotonic() < deadline:
        if in_flight:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        tab.wait_for_timeout(100)
    pytest.fail(f"{tab.url} still loading after {TIMEOUT_MS / 1000:.0f} s: {[r.url for r in in_flight]}")


@pytest.fixture
def open_page(contexts, server):
    """``open_page(page, theme="light", query="")``: a fresh tab, closed after the test."""
    opened = []

    def _open(name: str, theme: str = "light", query: str = "") -> Visit:
        opened.append(_load(contexts[theme], server.origin, name, query))
        return opened[-1]

    yield _open
    for visit in opened:
        visit.page.close()


@pytest.fixture(scope="session")
def visited(contexts, server):
    """``visited(page, theme)``: the page loaded once per theme, for the checks that only read it."""
    cache = {}

    def _visited(name: str, theme: str = "light") -> Visit:
        if (name, theme) not in cache:
            cache[name, theme] = _load(contexts[theme], server.origin, name)
        return cache[name, theme]

    return _visited
