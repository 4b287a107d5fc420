"""`cu.glue` stores NumPy and 0-d PyTorch scalars as Python numbers, so MyST-NB can format them."""

import numpy as np
import torch
from myst_nb.core.variables import format_plain_text

from course_utils.notebook import plain_value


def test_numpy_and_tensor_scalars_become_python_numbers():
    for value, expected in [(np.float64(0.25), 0.25), (np.float32(0.5), 0.5), (np.int64(7), 7),
                            (torch.tensor(0.75), 0.75), (torch.tensor(3), 3)]:
        plain = plain_value(value)
        assert type(plain) is type(expected) and plain == expected


def test_other_values_are_unchanged():
    values = [0.5, 3, "cpu", [1.0, 2.0], np.array([1.0, 2.0]), torch.tensor([1.0])]
    for value in values:
        assert plain_value(value) is value


def test_plain_values_format_in_myst_nb_glue_text():
    # MyST-NB formats {glue:text}`name:.2f` by parsing the stored repr.
    assert format_plain_text(repr(plain_value(np.float64(0.98765))), ".2%") == "98.77%"
    assert format_plain_text(repr(plain_value(np.int64(46730))), ",") == "46,730"
