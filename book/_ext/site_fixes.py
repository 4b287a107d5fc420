"""A local Sphinx extension: fixes to the HTML that Jupyter Book 1.x writes, found by the browser tests.

Loaded through `sphinx.local_extensions` in `_config.yml`; `tests/test_browser.py` checks the result.
"""


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    """Keep one copy of each `<script>`.

    Sphinx 7.4 lists an inline script that an extension adds after the builder has started twice
    (once with the file name ``None``, once with ``""``). sphinx-thebe's is
    ``const THEBE_JS_URL = ...``, and a ``const`` declared twice is a SyntaxError in every reader's
    console.
    """
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
