"""Maintenance of the chapter notebooks (used by tests and by `make sync-colab`).

    python -m tools.nbtools sync-colab              # every chapter's Colab cell, from _config.yml
    python -m tools.nbtools clear [NOTEBOOK ...]    # outputs and execution counts removed

The Colab set-up cell of every chapter is generated here from `_config.yml`, so the repository
url and branch live in one place.
"""

import sys
from pathlib import Path

import nbformat

from tools import chapter_format as cf

USAGE = "usage: python -m tools.nbtools sync-colab | clear [NOTEBOOK ...]"


def colab_cell_source() -> str:
    """The exact source of the first code cell of every chapter."""
    url, branch = cf.repository()
    return (
        "# Set-up for Google Colab: install the course's helper module from the repository.\n"
        "# Elsewhere (your machine, Binder, the book's build) this cell does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        f'    package = "course-utils @ git+{url}@{branch}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)'
    )


def sync_colab_cells() -> None:
    """Rewrite the Colab set-up cell of every chapter from `_config.yml`; place it after the title."""
    for path in cf.notebooks():
        nb = nbformat.read(path, as_version=4)
        first = cf.code_cells(nb)[0]
        if cf.COLAB_SETUP not in cf.tags(first):
            sys.exit(f"{path}: the first code cell must be the Colab set-up cell tagged {cf.COLAB_SETUP!r}")
        first.source, first.metadata["tags"] = colab_cell_source(), list(cf.COLAB_TAGS)
        nb.cells.remove(first)
        nb.cells.insert(1, first)  # right after the title cell
        nbformat.write(nb, path)


def clear_outputs(path: Path) -> None:
    """Remove outputs and execution counts from one notebook, in place."""
    nb = nbformat.read(path, as_version=4)
    for cell in cf.code_cells(nb):
        cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)


def main(argv: list[str]) -> None:
    """Run the command line (``argv`` without the program name)."""
    command = argv[0] if argv else ""
    if command == "sync-colab":
        sync_colab_cells()
    elif command == "clear":
        for path in [Path(p) for p in argv[1:]] or cf.notebooks():
            clear_outputs(path)
    else:
        sys.exit(USAGE)


if __name__ == "__main__":
    main(sys.argv[1:])
