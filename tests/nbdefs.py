"""Load code from the chapter notebooks so tests can check it without executing a whole chapter.

Cells tagged ``from-scratch`` (hand-written implementations) and ``exercise-solution`` (reference
solutions) must be self-contained apart from the standard imports below.
"""

import math
from pathlib import Path

import nbformat
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BOOK = Path(__file__).resolve().parents[1] / "book"


def cells_with_tag(notebook: str, tag: str) -> list[str]:
    """Sources of the code cells of ``book/<notebook>`` that carry ``tag``."""
    nb = nbformat.read(BOOK / notebook, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]


def load_definitions(notebook: str, tag: str = "from-scratch") -> dict:
    """Execute the cells of ``notebook`` tagged ``tag`` and return the names they define."""
    namespace = {"np": np, "torch": torch, "nn": nn, "F": F, "math": math}
    sources = cells_with_tag(notebook, tag)
    if not sources:
        raise LookupError(f"no code cell tagged {tag!r} in book/{notebook}")
    for source in sources:
        exec(compile(source, f"{notebook}[{tag}]", "exec"), namespace)
    return namespace
