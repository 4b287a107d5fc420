"""Helpers for the notebooks themselves: glueing computed numbers into the book's prose."""

from typing import Any

import numpy as np
import torch


def glue(name: str, value: Any, display: bool = True) -> None:
    """Record ``value`` under ``name`` so the text can quote it with ``{glue:text}`name:.2f```.

    Uses MyST-NB's `glue` when the book is built; elsewhere (Colab, plain Jupyter) it just
    shows the value, so the notebook runs unchanged. NumPy scalars and 0-d tensors are stored
    as plain Python numbers (see `plain_value`), so that format specs work on them.

    Args:
        name: the key the prose refers to; unique within the book.
        value: a number, string or figure.
        display: also show the value in the cell's output.
    """
    value = plain_value(value)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display=display)


def plain_value(value: Any) -> Any:
    """``value`` as a Python number if it is a NumPy scalar or a 0-d tensor, else unchanged.

    MyST-NB formats a glued number by parsing its ``repr``; ``repr(np.float64(0.5))`` is
    ``'np.float64(0.5)'`` under NumPy 2, which it cannot parse, so ``{glue:text}`x:.2f``` fails.

    Args:
        value: anything; e.g. ``np.float64(0.5)``, ``torch.tensor(3)`` (shape ()) or a list.
    Returns:
        ``value.item()`` for NumPy scalars and tensors of shape (); ``value`` itself otherwise.
    """
    if isinstance(value, np.generic) or (isinstance(value, torch.Tensor) and value.ndim == 0):
        return value.item()
    return value
