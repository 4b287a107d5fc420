"""Maintenance helpers for the chapter notebooks (used by tests and by `make sync-colab`).

The Colab set-up cell of every chapter is generated here from `_config.yml`, so the repository
url and branch live in one place.
"""

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
COLAB_TAG = "colab-setup"
COLAB_TAGS = [COLAB_TAG, "remove-cell"]  # the book's HTML doesn't need it; Colab and downloads do


def repository() -> tuple[str, str]:
    """The (url, branch) of the repository, from `_config.yml`."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/"), config["repository"]["branch"]


def colab_cell_source() -> str:
    """The exact source of the first code cell of every chapter."""
    url, branch = repository()
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


def chapter_paths() -> list[Path]:
    """Every notebook under book/."""
    return sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def sync_colab_cells() -> None:
    """Rewrite the Colab set-up cell of every chapter from `_config.yml`; place it after the title."""
    for path in chapter_paths():
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        if COLAB_TAG not in first.metadata.get("tags", []):
            sys.exit(f"{path}: the first code cell must be the Colab set-up cell tagged {COLAB_TAG!r}")
        first.source, first.metadata["tags"] = colab_cell_source(), list(COLAB_TAGS)
        nb.cells.remove(first)
        nb.cells.insert(1, first)  # right after the title cell
        nbformat.write(nb, path)


def new_chapter(cells: list, path: Path) -> None:
    """Write a chapter notebook from ``(kind, source[, metadata])`` tuples, kind "md" or "code".

    The Colab set-up cell is added after the first (title) cell. A convenience for authors who draft a chapter as a
    script; the committed .ipynb stays the one source of truth.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    }
    for kind, source, *metadata in cells:
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(make(source.strip("\n"), metadata=metadata[0] if metadata else {}))
    colab = nbformat.v4.new_code_cell(colab_cell_source(), metadata={"tags": list(COLAB_TAGS)})
    nb.cells.insert(1, colab)  # after the title cell
    nbformat.write(nb, path)


def clear_outputs(path: Path) -> None:
    """Remove outputs and execution counts from one notebook, in place."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "sync-colab":
        sync_colab_cells()
    elif command == "clear":
        for path in [Path(p) for p in sys.argv[2:]] or chapter_paths():
            clear_outputs(path)
    else:
        sys.exit("usage: python tools/nbtools.py sync-colab | clear [NOTEBOOK ...]")
