import pytest
import torch

import course_utils as cu
from nbdefs import load_definitions
from tools import chapter_format as cf


@pytest.fixture
def toy_classification():
    """A separable 3-class problem: 300 points in 2-D, int64 labels."""
    gen = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = torch.arange(3).repeat_interleave(100)
    X = centers[y] + 0.5 * torch.randn(300, 2, generator=gen)
    return X, y


@pytest.fixture
def mnist():
    """Full MNIST from the local data directory (CI copies the files there)."""
    return cu.load_mnist(allow_fallback=False)


@pytest.fixture(scope="module")
def scratch(request):
    """The hand-written definitions (cells tagged ``from-scratch``) of the test module's ``NOTEBOOK``."""
    return load_definitions(request.module.NOTEBOOK, cf.FROM_SCRATCH)


@pytest.fixture(scope="module")
def solutions(request):
    """The exercises' reference solutions (cells tagged ``exercise-solution``) of ``NOTEBOOK``."""
    return load_definitions(request.module.NOTEBOOK, cf.SOLUTION)
