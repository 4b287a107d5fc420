"""Helpers for the notebooks themselves: glueing computed numbers into the book's prose."""

from typing import Any


def glue(name: str, value: Any, display: bool = True) -> None:
    """Record ``value`` under ``name`` so the text can quote it with ``{glue:text}`name:.2f```.

    Uses MyST-NB's `glue` when the book is built; elsewhere (Colab, plain Jupyter) it just
    shows the value, so the notebook runs unchanged.

    Args:
        name: the key the prose refers to; unique within the book.
        value: a number, string or figure.
        display: also show the value in the cell's output.
    """
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # NumPy 2 prints np.float64(...) scalars, which MyST-NB cannot format
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display=display)
