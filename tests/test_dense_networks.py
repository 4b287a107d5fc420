"""Chapter 4 (`dense_networks`): the from-scratch code against PyTorch, and the exercise checks."""

import functools

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import check_dense_gradients, check_hidden_width, check_softmax_jacobian, tiny_digits
from course_utils.checks import CheckResult
from course_utils.checks import dense_networks as checks
from course_utils.models import mlp as cu_mlp
from nbdefs import cells_with_tag, load_definitions
from tools import chapter_format as cf
from tools.chapter_format import BOOK
from verdicts import ROW, Solution, answer_of, assert_verdict, rows

NOTEBOOK = "04_dense_networks.ipynb"

# (N, K) shapes and logit scales; a scale of 1000 overflows a naive exp in float64.
SHAPES = [(1, 2), (5, 10), (64, 3), (7, 1000)]
SCALES = [1.0, 30.0, 1000.0]
# A check runs the learner's code with NumPy's default warnings, so a naive softmax's overflow shows.
NAIVE_SOFTMAX_WARNS = pytest.mark.filterwarnings(
    "ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning"
)


def random_logits(shape, scale, seed=0):
    return scale * np.random.default_rng(seed).normal(size=shape)


def random_labels(n, k, seed=1):
    return np.random.default_rng(seed).integers(0, k, size=n)


# --- from-scratch softmax, cross-entropy and its gradient ----------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", SCALES)
def test_softmax_matches_torch(scratch, shape, scale):
    Z = random_logits(shape, scale)
    S = scratch["softmax"](Z)
    assert np.isfinite(S).all()
    torch.testing.assert_close(torch.from_numpy(S), torch.softmax(torch.from_numpy(Z), dim=1))
    np.testing.assert_allclose(S.sum(axis=1), 1.0, rtol=1e-12)


def test_softmax_of_one_vector_and_shift_invariance(scratch):
    z = np.array([1000.0, 999.0, 0.0, -1000.0])
    s = scratch["softmax"](z)
    torch.testing.assert_close(torch.from_numpy(s), torch.softmax(torch.from_numpy(z), dim=0))
    np.testing.assert_allclose(scratch["softmax"](z - 500.0), s)


def test_naive_softmax_overflows_where_the_stable_one_does_not(scratch):
    Z = np.array([[1000.0, 999.0, 0.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(scratch["softmax_naive"](Z)).any()
    assert np.isfinite(scratch["softmax"](Z)).all()
    small = random_logits((4, 6), 1.0)
    np.testing.assert_allclose(scratch["softmax_naive"](small), scratch["softmax"](small))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", SCALES)
def test_cross_entropy_matches_torch(scratch, shape, scale):
    Z, labels = random_logits(shape, scale), random_labels(*shape)
    loss = scratch["cross_entropy"](Z, np.eye(shape[1])[labels])
    expected = F.cross_entropy(torch.from_numpy(Z), torch.from_numpy(labels))
    assert np.isfinite(loss)
    torch.testing.assert_close(torch.tensor(float(loss), dtype=torch.float64), expected)


def test_cross_entropy_with_probability_targets_matches_torch(scratch):
    Z = random_logits((6, 5), 3.0)
    targets = scratch["softmax"](random_logits((6, 5), 1.0, seed=2))
    expected = F.cross_entropy(torch.from_numpy(Z), torch.from_numpy(targets))
    torch.testing.assert_close(torch.tensor(float(scratch["cross_entropy"](Z, targets)), dtype=torch.float64), expected)


def test_cross_entropy_of_the_uniform_guess_is_log_k(scratch):
    for k in (2, 10, 100):
        assert scratch["cross_entropy"](np.zeros((3, k)), np.eye(k)[[0, 1, 1]]) == pytest.approx(np.log(k))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", SCALES)
def test_cross_entropy_grad_matches_autograd(scratch, shape, scale):
    Z, labels = random_logits(shape, scale), random_labels(*shape)
    Z_torch = torch.tensor(Z, requires_grad=True)
    F.cross_entropy(Z_torch, torch.from_numpy(labels)).backward()
    grad = scratch["cross_entropy_grad"](Z, np.eye(shape[1])[labels])
    assert np.isfinite(grad).all()
    torch.testing.assert_close(torch.from_numpy(grad), Z_torch.grad)


def test_activation_derivatives_match_autograd(scratch):
    z = torch.randn(500, dtype=torch.float64, requires_grad=True)
    for name, (activation, derivative) in scratch["ACTIVATIONS"].items():
        if name == "step":
            assert torch.equal(derivative(z.detach()), torch.zeros_like(z))
            assert torch.equal(activation(z.detach()), (z.detach() > 0).double())
            continue
        (expected,) = torch.autograd.grad(activation(z).sum(), z)
        torch.testing.assert_close(derivative(z.detach()), expected)


# --- Exercise 4.1: the Jacobian of the softmax ----------------------------------------------------


def _stable_softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _naive_softmax(z):
    e = np.exp(z)
    return e / e.sum()


JACOBIAN_WRONG = {
    "diagonal only": lambda z: np.diag(_stable_softmax(z) * (1 - _stable_softmax(z))),
    "sign flipped": lambda z: np.outer(_stable_softmax(z), _stable_softmax(z)) - np.diag(_stable_softmax(z)),
    "naive softmax": lambda z: np.diag(_naive_softmax(z)) - np.outer(_naive_softmax(z), _naive_softmax(z)),
    "missing the diagonal term": lambda z: -np.outer(_stable_softmax(z), _stable_softmax(z)),
    "the softmax instead": lambda z: _stable_softmax(z),
    "None": lambda z: None,
    "a string": lambda z: "J",
}


def test_jacobian_check_accepts_the_solution(solutions):
    result = check_softmax_jacobian(solutions["softmax_jacobian"])
    assert isinstance(result, CheckResult) and result.passed, result


@NAIVE_SOFTMAX_WARNS
@pytest.mark.parametrize("name", JACOBIAN_WRONG)
def test_jacobian_check_rejects_wrong_answers(name):
    with np.errstate(all="ignore"):
        result = check_softmax_jacobian(JACOBIAN_WRONG[name])
    assert isinstance(result, CheckResult) and not result.passed
    assert result.message


@NAIVE_SOFTMAX_WARNS
def test_jacobian_check_hints_name_the_mistake():
    assert "off-diagonal" in check_softmax_jacobian(JACOBIAN_WRONG["diagonal only"]).hint
    assert "sign" in check_softmax_jacobian(JACOBIAN_WRONG["sign flipped"]).hint
    with np.errstate(all="ignore"):
        assert "overflow" in check_softmax_jacobian(JACOBIAN_WRONG["naive softmax"]).hint
    assert "shape" in check_softmax_jacobian(JACOBIAN_WRONG["the softmax instead"]).message


# --- Exercise 4.2: gradients of a dense layer -----------------------------------------------------


def _logit_gradient(X, Y, W, b, stable=True):
    Z = X @ W.T + b
    E = np.exp(Z - Z.max(axis=1, keepdims=True)) if stable else np.exp(Z)
    return (E / E.sum(axis=1, keepdims=True) - Y) / len(X)


DENSE_WRONG = {
    "sign flipped": lambda X, Y, W, b: (-_logit_gradient(X, Y, W, b).T @ X, -_logit_gradient(X, Y, W, b).sum(axis=0)),
    "summed, not averaged": lambda X, Y, W, b: (
        len(X) * _logit_gradient(X, Y, W, b).T @ X,
        len(X) * _logit_gradient(X, Y, W, b).sum(axis=0),
    ),
    "dW transposed": lambda X, Y, W, b: (X.T @ _logit_gradient(X, Y, W, b), _logit_gradient(X, Y, W, b).sum(axis=0)),
    "no softmax": lambda X, Y, W, b: (((X @ W.T + b) - Y).T @ X / len(X), ((X @ W.T + b) - Y).mean(axis=0)),
    "naive softmax": lambda X, Y, W, b: (
        _logit_gradient(X, Y, W, b, stable=False).T @ X,
        _logit_gradient(X, Y, W, b, stable=False).sum(axis=0),
    ),
    "db not summed": lambda X, Y, W, b: (_logit_gradient(X, Y, W, b).T @ X, _logit_gradient(X, Y, W, b)),
    "only dW": lambda X, Y, W, b: _logit_gradient(X, Y, W, b).T @ X,
    "None": lambda X, Y, W, b: None,
}


def test_dense_gradients_check_accepts_the_solution(solutions):
    result = check_dense_gradients(solutions["dense_layer_gradients"])
    assert isinstance(result, CheckResult) and result.passed, result


@NAIVE_SOFTMAX_WARNS
@pytest.mark.parametrize("name", DENSE_WRONG)
def test_dense_gradients_check_rejects_wrong_answers(name):
    with np.errstate(all="ignore"):
        result = check_dense_gradients(DENSE_WRONG[name])
    assert isinstance(result, CheckResult) and not result.passed
    assert result.message


def test_dense_gradients_check_hints_name_the_mistake():
    assert "sign" in check_dense_gradients(DENSE_WRONG["sign flipped"]).hint
    assert "N times" in check_dense_gradients(DENSE_WRONG["summed, not averaged"]).hint
    assert "shape of W" in check_dense_gradients(DENSE_WRONG["dW transposed"]).hint


def test_the_solution_trains_the_tiny_digits(solutions):
    images, labels = tiny_digits()
    X, Y = images.reshape(10, 25), np.eye(10)[labels]
    W, b = np.zeros((10, 25)), np.zeros(10)
    for _ in range(300):
        dW, db = solutions["dense_layer_gradients"](X, Y, W, b)
        W, b = W - 0.5 * dW, b - 0.5 * db
    assert ((X @ W.T + b).argmax(axis=1) == labels).all()


# --- Exercise 4.3: a hidden width within a budget -------------------------------------------------


def test_width_check_accepts_the_solution(solutions):
    width = solutions["hidden_width"]
    assert 795 * width + 10 <= checks.PARAM_BUDGET
    result = check_hidden_width(width)
    assert isinstance(result, CheckResult) and result.passed, result


@pytest.mark.parametrize("width", [32, 64, 256])
def test_width_check_rejects_widths_over_the_budget(width):
    result = check_hidden_width(width)
    assert not result.passed and "budget" in result.message


def test_width_check_rejects_a_width_too_narrow_to_reach_the_target():
    result = check_hidden_width(2)
    assert not result.passed and "below the target" in result.message


@pytest.mark.parametrize("width", [31.0, "31", True, 0, -5, None, [31]])
def test_width_check_rejects_wrong_types_and_values(width):
    result = check_hidden_width(width)
    assert isinstance(result, CheckResult) and not result.passed
    assert "hidden_width" in result.message


def test_width_check_accepts_numpy_integers_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    result = check_hidden_width(np.int64(checks.PARAM_BUDGET // 1000))  # 25: within the budget
    assert result.passed, result
    torch.testing.assert_close(torch.rand(3), expected_next)


def test_the_exercise_text_states_the_checks_budget_and_target():
    assert any("cu.check_hidden_width(hidden_width)" in source for source in cells_with_tag(NOTEBOOK, cf.SELF_CHECK))
    nb = nbformat.read(BOOK / NOTEBOOK, as_version=4)
    exercise = next(c.source for c in nb.cells if c.cell_type == "markdown" and ":label: ex-dense-width" in c.source)
    assert f"{checks.PARAM_BUDGET:,}" in exercise
    assert f"{checks.TARGET_ACCURACY:.0%}" in exercise
    assert f"{checks.BRIEF_TRAINING['batch_size']}" in exercise


# --- every check's table: the reference, plausible mistakes, in-place changes, junk --------------


def _jacobian_shifting_z_in_place(z):  # the stable softmax, but z -= max changes the caller's z
    z -= z.max()
    s = np.exp(z) / np.exp(z).sum()
    return np.diag(s) - np.outer(s, s)


JACOBIAN_ANSWERS = [
    ("reference", Solution("softmax_jacobian"), "passed", ()),
    ("diagonal only", JACOBIAN_WRONG["diagonal only"], "wrong", ("off-diagonal",)),
    ("sign flipped", JACOBIAN_WRONG["sign flipped"], "wrong", ("signs",)),
    ("naive softmax", JACOBIAN_WRONG["naive softmax"], "wrong", ("inf or nan", "overflow")),
    ("missing the diagonal term", JACOBIAN_WRONG["missing the diagonal term"], "wrong", ("log-softmax",)),
    ("the softmax instead", JACOBIAN_WRONG["the softmax instead"], "wrong", ("shape",)),
    ("shifts z in place", _jacobian_shifting_z_in_place, "changed-input", ("`z`", "z.copy()")),
    ("a tensor", lambda z: torch.autograd.functional.jacobian(lambda t: t.softmax(0), torch.tensor(z)), "passed", ()),
    ("None", JACOBIAN_WRONG["None"], "wrong", ("got None",)),
    ("crashes", lambda z: np.outer(z, z[:-1]) @ z, "raised", ("ValueError", "softmax_jacobian(z)")),
]


@pytest.mark.parametrize(ROW, rows(JACOBIAN_ANSWERS))
@NAIVE_SOFTMAX_WARNS
def test_check_softmax_jacobian_table(answer, kind, words, solutions):
    assert_verdict(check_softmax_jacobian(answer_of(answer, solutions)), kind, words)


@functools.cache
def _reference_gradients():
    """The chapter's reference solution of exercise 4.2, loaded when a test first needs it."""
    return load_definitions(NOTEBOOK, cf.SOLUTION)["dense_layer_gradients"]


def _gradients_then_a_step_on_W(X, Y, W, b):  # right values, but the caller's W is changed
    dW, db = _reference_gradients()(X, Y, W, b)
    W -= 0.1 * dW
    return dW, db


def _gradients_on_centred_X(X, Y, W, b):
    X -= X.mean(axis=0)
    return _reference_gradients()(X, Y, W, b)


DENSE_ANSWERS = [
    ("reference", Solution("dense_layer_gradients"), "passed", ()),
    ("sign flipped", DENSE_WRONG["sign flipped"], "wrong", ("wrong sign",)),
    ("summed, not averaged", DENSE_WRONG["summed, not averaged"], "wrong", ("N times",)),
    ("dW transposed", DENSE_WRONG["dW transposed"], "wrong", ("shape of W",)),
    ("no softmax", DENSE_WRONG["no softmax"], "wrong", ("softmax(Z) - Y",)),
    ("naive softmax", DENSE_WRONG["naive softmax"], "wrong", ("inf or nan",)),
    ("db not summed", DENSE_WRONG["db not summed"], "wrong", ("shape of b",)),
    ("only dW", DENSE_WRONG["only dW"], "wrong", ("pair",)),
    ("a step on W", _gradients_then_a_step_on_W, "changed-input", ("`W`", "W.copy()")),
    ("centres X first", _gradients_on_centred_X, "wrong", ("`X`", "in place")),
    ("tensors", lambda *a: tuple(map(torch.tensor, _reference_gradients()(*a))), "passed", ()),
    ("None", DENSE_WRONG["None"], "wrong", ("pair",)),
    ("crashes", lambda X, Y, W, b: X @ W, "raised", ("ValueError", "dense_layer_gradients(X, Y, W, b)")),
]


@pytest.mark.parametrize(ROW, rows(DENSE_ANSWERS))
@NAIVE_SOFTMAX_WARNS
def test_check_dense_gradients_table(answer, kind, words, solutions):
    assert_verdict(check_dense_gradients(answer_of(answer, solutions)), kind, words)


@pytest.mark.parametrize("width", [1, 7, 31, 100])
def test_the_width_check_counts_parameters_as_mlp_has_them(width):
    assert checks.mlp_num_params(width) == sum(p.numel() for p in cu_mlp(784, width, 10).parameters())


# (hidden_width, what the brief training gives: (test accuracy, full MNIST?) or None if it must not run)
WIDTH_ANSWERS = [
    ("reference", Solution("hidden_width"), (0.95, True), "passed", ()),
    ("a numpy integer", np.int64(31), (0.95, True), "passed", ()),
    ("offline subset, lower target", 31, (0.85, False), "passed", ()),
    ("too narrow", 2, (0.6, True), "wrong", ("below the target", "bottleneck")),
    ("just over the budget", 32, None, "wrong", ("25,450 parameters", "over the budget")),
    ("a million", 10**6, None, "wrong", ("over the budget",)),
    ("ten million", 10**7, None, "wrong", ("over the budget",)),
    ("absurd", 10**30, None, "wrong", ("over the budget",)),
    ("a float", 31.0, None, "wrong", ("whole number", "float")),
    ("a string", "31", None, "wrong", ("whole number", "str")),
    ("a bool", True, None, "wrong", ("whole number",)),
    ("zero", 0, None, "wrong", ("at least 1",)),
    ("negative", -5, None, "wrong", ("at least 1",)),
    ("None", None, None, "wrong", ("whole number",)),
]


@pytest.mark.parametrize("answer, training, kind, words", [pytest.param(*r[1:], id=r[0]) for r in WIDTH_ANSWERS])
def test_check_hidden_width_table(answer, training, kind, words, solutions, monkeypatch):
    """The brief training is faked (it is tested for real above): this is about the verdicts, and
    about never building a model to count its parameters (a width of 10**7 would need 30 GB)."""

    def no_model(*args):
        raise AssertionError("the check built a model to count its parameters")

    def fake_training(hidden_width):
        assert training is not None, "the check trained a width it should have rejected"
        return training

    monkeypatch.setattr(checks, "mlp", no_model)
    monkeypatch.setattr(checks, "_train_briefly", fake_training)
    assert_verdict(check_hidden_width(answer_of(answer, solutions)), kind, words)
