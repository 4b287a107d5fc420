"""Load code from the chapter notebooks so tests can check it without executing a whole chapter.

Cells tagged ``from-scratch`` (hand-written implementations) and ``exercise-solution`` (reference
solutions) must be self-contained apart from the standard imports below.
"""

import math

import nbformat
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tools import chapter_format as cf


def cells_with_tag(notebook: str, tag: str) -> list[str]:
    """Sources of the code cells of ``book/<notebook>`` that carry ``tag``."""
    return [c.source for c in cf.code_cells(nbformat.read(cf.BOOK / notebook, as_version=4), tag)]


def load_definitions(notebook: str, tag: str = cf.FROM_SCRATCH) -> dict:
    """Execute the cells of ``notebook`` tagged ``tag`` and return the names they define."""
    namespace = {"np": np, "torch": torch, "nn": nn, "F": F, "math": math}
    sources = cells_with_tag(notebook, tag)
    if not sources:
        raise LookupError(f"no code cell tagged {tag!r} in book/{notebook}")
    for source in sources:
        exec(compile(source, f"{notebook}[{tag}]", "exec"), namespace)
    return namespace
