"""`cu.glue` hands MyST-NB values that the book's ``{glue:text}`name:fmt``` roles can format."""

import myst_nb
import numpy as np
import pytest
from myst_nb.core.variables import format_plain_text

import course_utils as cu


@pytest.fixture
def glued(monkeypatch):
    captured = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: captured.update({name: value}))
    return captured


@pytest.mark.parametrize(
    "value, fmt, text",
    [
        (np.float64(1.23456), ".2f", "1.23"),  # NumPy 2 prints this as np.float64(1.23456)
        (np.float32(2.5), ".1f", "2.5"),
        (np.int64(12345), ",d", "12,345"),
        (np.array(0.25), ".0%", "25%"),
        (3.0, ".1e", "3.0e+00"),
        (7, "d", "7"),
        ("32", "", "32"),
    ],
)
def test_glued_values_format_in_the_text(glued, value, fmt, text):
    cu.glue("x", value, display=False)
    assert type(glued["x"]) in (float, int, str)
    assert format_plain_text(repr(glued["x"]), fmt) == text


def test_arrays_and_other_objects_are_passed_unchanged(glued):
    values = np.arange(3)
    cu.glue("v", values, display=False)
    assert glued["v"] is values
