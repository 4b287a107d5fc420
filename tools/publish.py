"""The configuration of the published site: the instructor edition, its PDF and the student edition.

    python -m tools.publish config -o _build/site-config.yml --pdf deep-learning-executed.pdf --student-edition student/

writes `_config.yml` with the changes that `make site` (and so `make test` and deploy.yml) builds
with, for `jupyter-book build . --config _build/site-config.yml`:

* every chapter is executed once, into a fresh jupyter-cache (``execute_notebooks: cache``), so
  that the HTML build and the LaTeX build of the PDF read the same outputs (`make site` empties
  the cache first: it never serves stale outputs). `_config.yml` itself keeps ``force``;
* the root page links to the PDF and to the student edition, where the site publishes them
  (``course_pdf``, ``course_student_edition``: see `book/_ext/editions.py`);
* the local extensions' folders, which Jupyter Book reads relative to the configuration file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from tools import chapter_format as cf


def site_config(
    root: Path, out: Path, cache: Path, pdf: str = "", student_edition: str = "", site_url: str = ""
) -> dict:
    """Write the site's configuration to ``out`` (from ``root``'s `_config.yml`) and return it."""
    root, out = Path(root).resolve(), Path(out).resolve()
    config = cf.config(root)
    config["execute"] = {**config.get("execute", {}), "execute_notebooks": "cache", "cache": str(Path(cache).resolve())}
    sphinx = config.setdefault("sphinx", {})
    sphinx["local_extensions"] = {
        name: os.path.relpath(root / folder, out.parent) for name, folder in sphinx.get("local_extensions", {}).items()
    }
    links = {"course_pdf": pdf, "course_student_edition": student_edition, "course_site_url": site_url}
    sphinx.setdefault("config", {}).update({key: value for key, value in links.items() if value})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return config


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m tools.publish``."""
    parser = argparse.ArgumentParser(prog="python -m tools.publish", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    config = commands.add_parser("config", help="write the configuration that `make site` builds with")
    config.add_argument("-o", "--output", type=Path, required=True, help="the configuration file to write")
    config.add_argument("--root", type=Path, default=cf.ROOT, help="the book's root folder (default: this repository)")
    config.add_argument("--cache", type=Path, default=Path("_build/.jupyter_cache"), help="the jupyter-cache folder")
    config.add_argument("--pdf", default="", help="the PDF's path in the site, which the root page links to")
    config.add_argument("--student-edition", default="", help="the student edition's folder in the site, if published")
    config.add_argument("--site-url", default="", help="the site's address, for the PDF's links")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    site_config(args.root, args.output, args.cache, args.pdf, args.student_edition, args.site_url)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
