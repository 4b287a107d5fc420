"""The published site, as a reader's browser sees it: every page of `_toc.yml` in headless Chromium.

Run after `make test-book` (it builds `_build/html`): `make test-browser`. The site is served by a
thread on 127.0.0.1; any request to another host is recorded and aborted, so a page that needs
the internet fails here. Screenshots of every page in light and dark mode are written to
`test-artifacts/screenshots/`.
"""

import re
from urllib.parse import urlsplit

import nbformat
import pytest

from site_support import (
    AXE,
    BOOK_ROOT,
    EXECUTED,
    ROOT,
    SCREENSHOTS,
    THEMES,
    broken_internal_link,
    is_local,
    is_notebook,
    launch_urls,
    search_word,
    source_text,
    toc_pages,
)

pytestmark = pytest.mark.browser

PAGES = toc_pages()
NOTEBOOK_PAGES = [p for p in PAGES if is_notebook(p)]
BLOCKING_IMPACTS = {"serious", "critical"}
# The text a page shows, without code, typeset math and scripts: where raw markup would be a bug.
PROSE_JS = """() => {
  const article = document.querySelector('article') || document.querySelector('main');
  const copy = article.cloneNode(true);
  copy.querySelectorAll('pre, code, mjx-container, script, style, .cell_output').forEach(e => e.remove());
  return copy.textContent;
}"""
# --- the page loads, offline --------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_without_errors(visited, name):
    visit = visited(name)
    assert not visit.console_errors, f"console errors on {name}:\n" + "\n".join(visit.console_errors)
    assert not visit.failed_local, f"failed requests on {name}:\n" + "\n".join(visit.failed_local)


@pytest.mark.parametrize("name", PAGES)
def test_nothing_is_requested_from_the_internet(visited, name):
    visit = visited(name)
    assert not visit.external, (
        f"{name} requests other hosts while it loads (serve them from _static instead):\n"
        + "\n".join(sorted(set(visit.external)))
    )


@pytest.mark.parametrize("name", NOTEBOOK_PAGES)
def test_live_code_loads_thebe_only_when_asked(open_page, name):
    visit = open_page(name)
    assert not any("thebe" in url for url in visit.external), "Thebe was loaded before the reader asked"
    tab = visit.page
    tab.click(".dropdown-launch-buttons .dropdown-toggle")
    with tab.expect_request(lambda r: "thebe" in r.url and not is_local(r.url)):
        tab.click(".btn-launch-thebe")
    assert any("thebe" in url for url in visit.external)


# --- content: math, figures, outputs, exercises -------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_math_is_typeset(visited, name):
    tab = visited(name).page
    untypeset = tab.evaluate(
        "() => Array.from(document.querySelectorAll('.math')).filter(e => !e.querySelector('mjx-container'))"
        ".map(e => e.textContent.slice(0, 80))"
    )
    assert not untypeset, f"math left untypeset on {name}: {untypeset}"
    errors = tab.evaluate("() => Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent)")
    assert not errors, f"TeX errors on {name}: {errors}"
    prose = tab.evaluate(PROSE_JS)
    for raw in ("$", "\\(", "\\)", "\\[", "\\]", "\\begin{"):
        assert raw not in prose, f"raw math delimiter {raw!r} in the text of {name}: ...{_around(prose, raw)}..."
    if "$" in source_text(name):
        assert tab.locator("mjx-container").count() > 0, f"{name} has math in its source but none on the page"


@pytest.mark.parametrize("name", PAGES)
def test_no_raw_markup_is_left(visited, name):
    prose = visited(name).page.evaluate(PROSE_JS)
    for raw in (":::", "```{", "{glue:", "{ref}`", "{numref}`", "{doc}`"):
        assert raw not in prose, f"unrendered MyST markup {raw!r} on {name}: ...{_around(prose, raw)}..."


@pytest.mark.parametrize("name", PAGES)
def test_images_load_and_have_alt_text(visited, name):
    tab = visited(name).page
    images = tab.evaluate("""async () => {
      const imgs = Array.from(document.images);
      await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
      return imgs.map(i => ({src: i.getAttribute('src'), alt: i.getAttribute('alt'), width: i.naturalWidth,
                             figure: !!i.closest('article')}));
    }""")
    broken = [i["src"] for i in images if i["width"] == 0]
    assert not broken, f"images that did not load on {name}: {broken}"
    no_alt = [i["src"] for i in images if i["alt"] is None]
    assert not no_alt, f"images without an alt attribute on {name}: {no_alt}"
    for image in (i for i in images if i["figure"]):
        assert _meaningful_alt(image["alt"]), (
            f"figure {image['src']} on {name} has alt text {image['alt']!r}: describe what it shows "
            '(in a notebook: cell metadata {"mystnb": {"image": {"alt": "..."}}})'
        )


@pytest.mark.parametrize("name", NOTEBOOK_PAGES)
def test_every_code_cell_shows_its_output(visited, name):
    executed = EXECUTED / f"{name}.ipynb"
    assert executed.is_file(), f"{executed} is missing: was the book built with execution?"
    nb = nbformat.read(executed, as_version=4)
    shown = [c for c in nb.cells if c.cell_type == "code" and not _tags(c) & {"remove-cell", "remove_cell"}]
    cells = visited(name).page.locator("article div.cell")
    assert cells.count() == len(shown), f"{name}: {len(shown)} code cells in the notebook, {cells.count()} on the page"
    for index, cell in enumerate(shown):
        if not cell.outputs or _tags(cell) & {"remove-output", "remove_output"}:
            continue
        output = cells.nth(index).locator(".cell_output")
        assert output.count() == 1, f"{name}: code cell {index + 1} ran with output, but the page shows none"
        has_content = output.evaluate("e => e.textContent.trim().length > 0 || e.querySelector('img, svg') !== null")
        assert has_content, f"{name}: the output of code cell {index + 1} is empty on the page"


@pytest.mark.parametrize("name", PAGES)
def test_exercises_render_and_solutions_stay_hidden_until_opened(open_page, name):
    source = source_text(name)
    num_exercises = len(re.findall(r"^(?::::*|````*)\{exercise(?:-start)?\}", source, re.M))
    num_solutions = len(re.findall(r"^(?::::*|````*)\{solution(?:-start)?\}", source, re.M))
    tab = open_page(name).page
    exercises, solutions = tab.locator("article div.exercise"), tab.locator("article div.solution")
    assert exercises.count() == num_exercises, (
        f"{name}: {num_exercises} exercises in the source, {exercises.count()} rendered"
    )
    assert solutions.count() == num_solutions, (
        f"{name}: {num_solutions} solutions in the source, {solutions.count()} rendered"
    )
    for i in range(exercises.count()):
        exercise = exercises.nth(i)
        assert exercise.is_visible() and "Exercise" in exercise.locator(".admonition-title").inner_text()
    for i in range(solutions.count()):
        solution = solutions.nth(i)
        body = solution.locator(":scope > :not(.admonition-title)")
        assert body.count() > 0, f"{name}: solution {i + 1} is empty"
        assert solution.locator(".admonition-title").is_visible(), f"{name}: solution {i + 1} has no visible title"
        assert not any(body.nth(j).is_visible() for j in range(body.count())), (
            f"{name}: solution {i + 1} is visible before the reader opens it (give it `:class: dropdown`)"
        )
        solution.locator(".admonition-title .toggle-button").click()
        body.first.wait_for(state="visible")
        assert all(body.nth(j).is_visible() for j in range(body.count())), f"{name}: solution {i + 1} does not open"


# --- launch and download ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NOTEBOOK_PAGES)
def test_launch_menu_offers_colab_and_binder_for_this_notebook(open_page, name):
    expected = launch_urls(name)
    assert (BOOK_ROOT / expected["notebook_in_repo"]).is_file(), (
        f"the launch links would open {expected['notebook_in_repo']}, which is not in the repository: "
        "check repository.path_to_book in _config.yml"
    )
    tab = open_page(name).page
    tab.click(".dropdown-launch-buttons .dropdown-toggle")
    menu = tab.locator(".dropdown-launch-buttons .dropdown-menu")
    for service in ("Colab", "Binder"):
        link = menu.get_by_role("link", name=service)
        assert link.is_visible(), f"{name}: the launch menu has no {service} entry"
        assert link.get_attribute("href") == expected[service.lower()], f"{name}: wrong {service} link"
    repo_link = tab.locator(".article-header-buttons a[href^='https://github.com']").first
    assert repo_link.get_attribute("href").rstrip("/") == expected["repository"]


@pytest.mark.parametrize("name", NOTEBOOK_PAGES)
def test_download_menu_offers_the_notebook(open_page, server, name):
    tab = open_page(name).page
    tab.click(".dropdown-download-buttons .dropdown-toggle")
    link = tab.locator(".dropdown-download-buttons .dropdown-menu").get_by_role("link", name=".ipynb")
    assert link.is_visible(), f"{name}: the download menu does not offer the .ipynb"
    href = link.evaluate("a => a.href")
    assert href == f"{server.origin}/{launch_urls(name)['download']}"
    response = tab.request.get(href)
    assert response.ok
    nb = nbformat.reads(response.text(), as_version=4)
    assert any(c.cell_type == "code" for c in nb.cells), f"{href} is not the chapter's notebook"


# --- search, links ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_search_finds_a_word_of_the_page(visited, open_page, name):
    first_paragraph = visited(name).page.locator("article section p").first.inner_text()
    word = search_word(first_paragraph)
    search = open_page("search", query=f"?q={word}")
    tab = search.page
    try:
        tab.wait_for_function(
            "() => /Search finished|did not match/.test(document.querySelector('#search-results')?.innerText || '')",
            timeout=30_000,
        )
    except Exception:
        pytest.fail(f"searching {word!r} never finished; console: {search.console_errors}", pytrace=False)
    assert not search.console_errors, f"console errors on the search page: {search.console_errors}"
    results = tab.locator("#search-results ul.search li a")
    hrefs = [urlsplit(results.nth(i).evaluate("a => a.href")).path for i in range(results.count())]
    assert f"/{name}.html" in hrefs, f"searching {word!r} (from {name}) found only {hrefs}"


@pytest.mark.parametrize("name", PAGES)
def test_internal_links_and_cross_references_resolve(visited, server, name):
    tab = visited(name).page
    urls = tab.evaluate("""() => [
      ...Array.from(document.querySelectorAll('a[href]'), a => a.href),
      ...Array.from(document.querySelectorAll('img[src], script[src]'), e => e.src),
      ...Array.from(document.querySelectorAll('link[href]'), e => e.href),
    ]""")
    internal = sorted({u for u in urls if u.startswith(server.origin + "/")})
    assert any(".html" in u for u in internal), f"{name} links to no other page"
    broken = [reason for u in internal if (reason := broken_internal_link(u[len(server.origin) :]))]
    assert not broken, f"broken internal links on {name}:\n" + "\n".join(broken)
    unresolved = tab.evaluate(
        "() => Array.from(document.querySelectorAll('article .xref'))"
        ".filter(e => !e.closest('a')).map(e => e.textContent)"
    )
    assert not unresolved, f"unresolved cross-references on {name}: {unresolved}"


# --- themes: screenshots and accessibility ------------------------------------------------------


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("name", PAGES)
def test_screenshot(visited, name, theme):
    tab = visited(name, theme).page
    assert tab.evaluate("() => document.documentElement.dataset.theme") == theme
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name.replace('/', '_')}-{theme}.png"
    tab.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("name", PAGES)
def test_accessibility(visited, name, theme):
    if not AXE.is_file():
        pytest.fail(f"{AXE.relative_to(ROOT)} is missing: run `npm ci`", pytrace=False)
    tab = visited(name, theme).page
    tab.add_script_tag(path=str(AXE))
    violations = tab.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
      .map(v => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))""")
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe-core on {name} ({theme}):\n" + "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']} at {v['nodes']}" for v in blocking
    )


# --- helpers ------------------------------------------------------------------------------------


def _tags(cell) -> set:
    return set(cell.metadata.get("tags", []))


def _meaningful_alt(alt: str | None) -> bool:
    """At least four words, and not a file name or a placeholder."""
    alt = (alt or "").strip()
    placeholder = re.fullmatch(r"(?i)(image|figure|plot|png|output|graph|chart)?\s*\d*", alt)
    file_name = re.search(r"\.(png|jpe?g|svg|gif)\b|_images/|^[0-9a-f]{16,}", alt)
    return not placeholder and not file_name and len(alt.split()) >= 4


def _around(text: str, needle: str, width: int = 60) -> str:
    at = text.find(needle)
    return " ".join(text[max(0, at - width) : at + width].split())
