"""Tables of answers for the self-checks: each row names a case, gives the answer (a function, a
value, or a `Solution`: the name of a reference solution) and the verdict's kind and the words its
message or hint must hold."""

import pytest
import torch
from torch import nn

from course_utils.checks import CheckResult

ROW = "answer, kind, words"


def rows(table: list[tuple]) -> list:
    """``table``'s rows ``(case, answer, kind, words)`` as pytest parameters for `ROW`, named by case."""
    return [pytest.param(*row[1:], id=row[0]) for row in table]


class Solution(str):
    """In a table, the name of a reference solution (the chapter's ``exercise-solution`` cells)."""


def answer_of(answer, solutions: dict):
    """The reference solution if ``answer`` is a `Solution`, else ``answer`` itself."""
    return solutions[answer] if isinstance(answer, Solution) else answer


def assert_verdict(result: CheckResult, kind: str, words: tuple[str, ...] = ()) -> None:
    """Assert that ``result`` is of ``kind`` and its message or hint contains every one of ``words``."""
    assert isinstance(result, CheckResult) and result.kind == kind, result
    assert result.passed == (kind == "passed"), result
    text = f"{result.message} {result.hint}"
    assert all(word in text for word in words), (words, result)


def fake_mnist_test_set() -> tuple:
    """``(model, X_test, y_test)``: 10,000 random "images" and the labels that a 7,850-parameter
    linear model gives them, a fast right answer for exercise 5.3 where its real training is not
    what a test is about."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(10_000, 1, 28, 28, generator=gen)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(10, 784, generator=gen))
        y = model(X).argmax(dim=1)
    return model, X, y
