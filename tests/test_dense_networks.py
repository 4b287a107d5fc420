"""Chapter 4 (`dense_networks`): the from-scratch code against PyTorch, and the exercise checks."""

import functools
import math
import types

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import (
    check_dense_gradients,
    check_hidden_width,
    check_regression_backprop,
    check_softmax_jacobian,
    tiny_digits,
)
from course_utils import quizzes as cu_quizzes
from course_utils.checks import CheckResult
from course_utils.checks import dense_networks as checks
from course_utils.data import MNIST_MEAN as cu_mnist_mean
from course_utils.data import MNIST_STD as cu_mnist_std
from course_utils.data import load_mnist as cu_load_mnist
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


# --- backpropagation through a hidden layer, by hand --------------------------------------------

# (N, D, M, K) and the scale of the weights: large weights give large, confident logits.
MLP_SHAPES = [(1, 3, 4, 2), (7, 5, 6, 3), (32, 25, 16, 10), (50, 784, 32, 10)]


def _torch_mlp(d, m, k, scale, seed=0):
    torch.manual_seed(seed)
    model = cu_mlp(d, m, k).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model


@pytest.mark.parametrize("shape", MLP_SHAPES)
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_mlp_backward_pass_matches_autograd(scratch, shape, scale):
    n, d, m, k = shape
    model = _torch_mlp(d, m, k, scale)
    params = [model[1].weight, model[1].bias, model[3].weight, model[3].bias]
    X = torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(2))
    loss, grads = scratch["mlp_loss_and_gradients"](X, F.one_hot(labels, k).double(), *(p.detach() for p in params))
    expected_loss = F.cross_entropy(model(X), labels)
    torch.testing.assert_close(loss, expected_loss)
    for mine, theirs, p in zip(grads, torch.autograd.grad(expected_loss, params), params):
        assert mine.shape == p.shape
        torch.testing.assert_close(mine, theirs)


def test_mlp_backward_pass_from_zeros_gives_nothing_to_the_hidden_layer(scratch):
    """The zero start of the text: the output bias is the only parameter with a gradient."""
    images, labels = tiny_digits()
    X = torch.tensor(images.reshape(10, 25), dtype=torch.float64)
    Y = torch.eye(10, dtype=torch.float64)[torch.tensor(labels)]
    Y = Y[[0, 0, 1]]  # unbalanced classes, so that the output bias does get a gradient
    zeros = [torch.zeros(16, 25), torch.zeros(16), torch.zeros(10, 16), torch.zeros(10)]
    _, (dW1, db1, dW2, db2) = scratch["mlp_loss_and_gradients"](X[[0, 0, 1]], Y, *(z.double() for z in zeros))
    assert not dW1.any() and not db1.any() and not dW2.any() and db2.abs().sum() > 0


def _regression_parts(X, Y, W1, b1, W2, b2):
    Z1 = X @ W1.T + b1
    A1 = Z1.clamp(min=0)
    return Z1, A1, A1 @ W2.T + b2


def _regression_backprop(mask="pre", scale=2.0, mean_over="NK", sign=1.0, transpose=""):
    """A hand-written backward pass of the regression MLP, right or with one of the usual mistakes."""

    def gradients(X, Y, W1, b1, W2, b2):
        Z1, A1, Y_hat = _regression_parts(X, Y, W1, b1, W2, b2)
        count = {"NK": Y.numel(), "N": len(Y), "none": 1}[mean_over]
        G2 = sign * scale * (Y_hat - Y) / count
        dW2, db2 = G2.T @ A1, G2.sum(dim=0)
        masks = {"pre": Z1 > 0, "post": A1 > 0, "pre>=": Z1 >= 0, "post>=": A1 >= 0, "none": torch.ones_like(Z1)}
        G1 = (G2 @ W2) * masks[mask]
        dW1, db1 = G1.T @ X, G1.sum(dim=0)
        if transpose == "dW1":
            dW1 = X.T @ G1
        if transpose == "dW2":
            dW2 = A1.T @ G2
        return dW1, db1, dW2, db2

    return gradients


def _backprop_changing_W1(X, Y, W1, b1, W2, b2):  # right values, then a gradient step on W1
    grads = _regression_backprop()(X, Y, W1, b1, W2, b2)
    W1 -= 0.1 * grads[0]
    return grads


def _backprop_with_autograd(X, Y, W1, b1, W2, b2):  # allowed for the check; the exercise asks not to
    params = [p.clone().requires_grad_(True) for p in (W1, b1, W2, b2)]
    Y_hat = (X @ params[0].T + params[1]).relu() @ params[2].T + params[3]
    return torch.autograd.grad(F.mse_loss(Y_hat, Y), params)


BACKPROP_ANSWERS = [
    ("reference", Solution("regression_mlp_gradients"), "passed", ()),
    ("mask from the pre-activations", _regression_backprop(mask="pre"), "passed", ()),
    ("mask from the activations, A1 > 0", _regression_backprop(mask="post"), "passed", ()),
    ("mask Z1 >= 0 (the same on this data)", _regression_backprop(mask="pre>="), "passed", ()),
    ("as NumPy arrays", lambda *a: tuple(g.numpy() for g in _regression_backprop()(*a)), "passed", ()),
    ("as float32", lambda *a: tuple(g.float() for g in _regression_backprop()(*a)), "passed", ()),
    ("autograd's", _backprop_with_autograd, "passed", ()),
    ("ReLU mask forgotten", _regression_backprop(mask="none"), "wrong", ("dW1", "active (z > 0)")),
    ("mask A1 >= 0, true everywhere", _regression_backprop(mask="post>="), "wrong", ("dW1", "active (z > 0)")),
    ("dW1 transposed", _regression_backprop(transpose="dW1"), "wrong", ("dW1", "shape of W1, (M, D)")),
    ("dW2 transposed", _regression_backprop(transpose="dW2"), "wrong", ("dW2", "shape of W2, (K, M)")),
    ("summed, no 1/N", _regression_backprop(mean_over="none"), "wrong", ("N*K times too large",)),
    ("mean over N only", _regression_backprop(mean_over="N"), "wrong", ("K times too large", "N=12")),
    ("factor 2 forgotten", _regression_backprop(scale=1.0), "wrong", ("half", "2u")),
    ("sign flipped", _regression_backprop(sign=-1.0), "wrong", ("signs",)),
    (
        "the classifier's G2",
        lambda X, Y, W1, b1, W2, b2: _regression_backprop(scale=1.0, mean_over="N")(X, Y, W1, b1, W2, b2),
        "wrong",
        ("not right yet",),
    ),
    ("a step on W1", _backprop_changing_W1, "changed-input", ("`W1`", "W1.clone()")),
    ("three gradients", lambda *a: _regression_backprop()(*a)[:3], "wrong", ("four gradients",)),
    ("None", lambda *a: None, "wrong", ("four gradients",)),
    ("nan", lambda *a: tuple(g * math.nan for g in _regression_backprop()(*a)), "wrong", ("inf or nan",)),
    ("crashes", lambda X, Y, W1, b1, W2, b2: X @ W2, "raised", ("RuntimeError", "regression_mlp_gradients(X, Y")),
]


@pytest.mark.parametrize(ROW, rows(BACKPROP_ANSWERS))
def test_check_regression_backprop_table(answer, kind, words, solutions):
    assert_verdict(check_regression_backprop(answer_of(answer, solutions)), kind, words)


def test_the_regression_solution_matches_autograd_on_the_chapters_network(solutions):
    """The reference on the 2-64-1 network of the chapter's regression, at PyTorch's random start."""
    model = _torch_mlp(2, 64, 1, 1.0)
    params = [model[1].weight, model[1].bias, model[3].weight, model[3].bias]
    X = torch.randn(256, 2, dtype=torch.float64)
    Y = torch.randn(256, 1, dtype=torch.float64)
    expected = torch.autograd.grad(F.mse_loss(model(X), Y), params)
    for mine, theirs in zip(solutions["regression_mlp_gradients"](X, Y, *(p.detach() for p in params)), expected):
        torch.testing.assert_close(mine, theirs)


# --- Exercise 4.4: where to spend a parameter budget ----------------------------------------------


@functools.cache
def _best_design():
    """The reference solution's design on the real training images: (border, hidden_width)."""
    design = load_definitions(NOTEBOOK, cf.SOLUTION)["design_within_budget"]
    return tuple(design(cu_load_mnist(allow_fallback=False).X_train, checks.PARAM_BUDGET))


def test_the_solution_obeys_the_rules_and_its_network_reaches_the_target():
    border, width = _best_design()
    shares = checks.ink_shares_kept(cu_load_mnist(allow_fallback=False).X_train)
    assert shares[border] >= checks.MIN_INK_SHARE > shares[border + 1]
    num_inputs = (28 - 2 * border) ** 2
    assert checks.mlp_num_params(width, num_inputs) <= checks.PARAM_BUDGET
    assert checks.mlp_num_params(width + 1, num_inputs) > checks.PARAM_BUDGET
    assert checks.mlp_num_params(width, num_inputs) == sum(
        p.numel() for p in cu_mlp(num_inputs, width, 10).parameters()
    )
    result = check_hidden_width(border, width)  # the real check: it trains for two epochs
    assert isinstance(result, CheckResult) and result.passed, result


def test_the_solution_decides_by_the_data_and_the_budget(solutions):
    """The decision follows the measurement: ink moved to the border, or a larger budget, change it."""
    design = solutions["design_within_budget"]
    images = torch.zeros(4, 1, 28, 28) - 0.4242  # blank images, standardised
    images[:, 0, 10:18, 10:18] = 2.0  # ink only in the central 8x8: cut 10 of the 14 possible
    assert design(images, 25_000) == (10, (25_000 - 10) // (64 + 11))
    images[:, 0, 0, 0] = 2.0 * 64  # now half of the ink sits in a corner: no cut is allowed
    assert design(images, 25_000) == (0, (25_000 - 10) // 795)
    assert design(images, 100_000) == (0, (100_000 - 10) // 795)


def test_ink_shares_are_measured_on_the_original_scale():
    images = torch.full((2, 1, 28, 28), -cu_mnist_mean / cu_mnist_std)  # blank: 0 on the original scale
    images[:, 0, 14, 14] = (1.0 - cu_mnist_mean) / cu_mnist_std  # one inked pixel in the centre
    images[0, 0, 0, 5] = (1.0 - cu_mnist_mean) / cu_mnist_std  # and one on the border of one image
    shares = checks.ink_shares_kept(images)
    assert len(shares) == 14 and shares[0] == pytest.approx(1.0)
    assert shares[1] == pytest.approx(2 / 3, rel=1e-4) and shares[13] == pytest.approx(2 / 3, rel=1e-4)


def test_the_exercise_text_states_the_checks_budget_rules_and_target():
    assert any("cu.check_hidden_width(border, hidden_width)" in s for s in cells_with_tag(NOTEBOOK, cf.SELF_CHECK))
    nb = nbformat.read(BOOK / NOTEBOOK, as_version=4)
    exercise = next(c.source for c in nb.cells if c.cell_type == "markdown" and ":label: ex-dense-width" in c.source)
    assert f"{checks.PARAM_BUDGET:,}" in exercise
    assert f"{checks.MIN_INK_SHARE:.0%} of the ink" in exercise
    assert f"{checks.TARGET_ACCURACY:.0%}" in exercise
    assert f"batches of {checks.BRIEF_TRAINING['batch_size']}" in exercise


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
@pytest.mark.parametrize("num_inputs", [784, 484, 1])
def test_the_width_check_counts_parameters_as_mlp_has_them(width, num_inputs):
    assert checks.mlp_num_params(width, num_inputs) == sum(
        p.numel() for p in cu_mlp(num_inputs, width, 10).parameters()
    )


# The shares of the ink that borders 0 to 13 keep, as on the real training images: border 3 is the
# widest that keeps 98%, and the budget then allows 50 hidden units (484 inputs).
FAKE_SHARES = [
    1.0,
    0.9998,
    0.9976,
    0.9900,
    0.9666,
    0.9098,
    0.8126,
    0.6820,
    0.5337,
    0.3861,
    0.2541,
    0.1465,
    0.0672,
    0.0174,
]

FALLBACK = 0.85  # an accuracy on the offline subset: below the full target, above the fallback's

# (border, hidden_width), the test accuracy the brief training gives (None: it must not run)
WIDTH_ANSWERS = [
    ("the best design", (3, 50), 0.96, "passed", ()),
    ("numpy integers", (np.int64(3), np.int32(50)), 0.96, "passed", ()),
    ("the best design, offline subset", (3, 50), FALLBACK, "passed", ()),
    ("no cut, the widest that fits", (0, 31), None, "wrong", ("border of 0", "cut more", "each pixel you cut")),
    ("a cut that keeps more than needed", (2, 42), None, "wrong", ("border of 2", "99.8%", "cut more")),
    ("a cut that loses too much ink", (4, 60), None, "wrong", ("border of 4", "96.7%", "less than 98%", "cut less")),
    ("the central 14x14", (7, 120), None, "wrong", ("68.2%", "cut less")),
    ("the right cut, too narrow", (3, 49), None, "wrong", ("more than 49 hidden units", "largest M")),
    ("the right cut, 1 hidden unit", (3, 1), None, "wrong", ("more than 1 hidden units",)),
    ("just over the budget", (3, 51), None, "wrong", ("484-51-10", "25,255 parameters", "over the budget")),
    ("no cut, just over the budget", (0, 32), None, "wrong", ("25,450 parameters", "over the budget")),
    ("a million", (3, 10**6), None, "wrong", ("over the budget",)),
    ("absurd", (0, 10**30), None, "wrong", ("over the budget",)),
    ("swapped", (50, 3), None, "wrong", ("border should be between 0 and 13", "got 50")),
    ("a negative border", (-1, 50), None, "wrong", ("between 0 and 13",)),
    ("a float width", (3, 50.0), None, "wrong", ("hidden_width", "whole number", "float")),
    ("a string border", ("3", 50), None, "wrong", ("border", "whole number", "str")),
    ("a bool", (True, 50), None, "wrong", ("whole number",)),
    ("zero width", (3, 0), None, "wrong", ("at least 1",)),
    ("None", (None, None), None, "wrong", ("whole number",)),
]


@pytest.mark.parametrize("answer, accuracy, kind, words", [pytest.param(*r[1:], id=r[0]) for r in WIDTH_ANSWERS])
def test_check_hidden_width_table(answer, accuracy, kind, words, monkeypatch):
    """The data and the brief training are faked (both are tested for real above): this is about
    the verdicts, and about never building a model to count its parameters (10**30 units)."""

    def no_model(*args):
        raise AssertionError("the check built a model to count its parameters")

    def fake_training(data, border, hidden_width):
        assert accuracy is not None, "the check trained a design it should have rejected"
        return accuracy

    monkeypatch.setattr(checks, "mlp", no_model)
    fake_data = types.SimpleNamespace(X_train=None, is_full=accuracy != FALLBACK)
    monkeypatch.setattr(checks, "_mnist_for_the_check", lambda device: fake_data)
    monkeypatch.setattr(checks, "ink_shares_kept", lambda images: FAKE_SHARES)
    monkeypatch.setattr(checks, "_train_briefly", fake_training)
    assert_verdict(check_hidden_width(*answer), kind, words)


@pytest.mark.parametrize("full, accuracy", [(True, 0.92), (False, 0.79)])
def test_the_width_check_does_not_blame_the_learner_if_the_best_design_misses_the_target(full, accuracy, monkeypatch):
    fake_data = types.SimpleNamespace(X_train=None, is_full=full)
    monkeypatch.setattr(checks, "_mnist_for_the_check", lambda device: fake_data)
    monkeypatch.setattr(checks, "ink_shares_kept", lambda images: FAKE_SHARES)
    monkeypatch.setattr(checks, "_train_briefly", lambda data, border, hidden_width: accuracy)
    assert_verdict(check_hidden_width(3, 50), "internal", ("not in your answer",))


def test_the_width_check_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    assert check_hidden_width(*_best_design()).passed
    torch.testing.assert_close(torch.rand(3), expected_next)


# --- quizzes ----------------------------------------------------------------------------------------


def test_the_chapter_shows_every_quiz_of_its_file_and_has_at_least_three_questions():
    quizzes = cu_quizzes.load_quizzes("04_dense_networks")
    assert sum(len(questions) for questions in quizzes.values()) >= 3
    nb = nbformat.read(BOOK / NOTEBOOK, as_version=4)
    shown = [c.source for c in nb.cells if c.cell_type == "code" and "cu.quiz(" in c.source]
    assert sorted(shown) == sorted(f'cu.quiz("04_dense_networks", "{name}")' for name in quizzes)
    assert all("remove-input" in c.metadata.get("tags", []) for c in nb.cells if "cu.quiz(" in c.source)
