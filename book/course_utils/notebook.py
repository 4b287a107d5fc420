"""Helpers for the notebooks themselves: glueing computed numbers into the book's prose."""

from typing import Any

import numpy as np


def glue(name: str, value: Any, display: bool = True) -> None:
    """Record ``value`` under ``name`` so the text can quote it with ``{glue:text}`name:.2f```.

    Uses MyST-NB's `glue` when the book is built; elsewhere (Colab, plain Jupyter) it just
    shows the value, so the notebook runs unchanged.

    Args:
        name: the key the prose refers to; unique within the book.
        value: a number, string or figure.
        display: also show the value in the cell's output.
    """
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        # NumPy scalars print as "np.float64(0.5)" (NumPy 2), which `{glue:text}` cannot format.
        value = value.item()
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display=display)
