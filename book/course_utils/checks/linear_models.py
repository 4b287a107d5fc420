"""Self-checks for chapter 1, `linear_models`."""

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from . import CheckFailed, as_tensor, close, self_check


def _pair(answer, first: str, second: str) -> tuple:
    """``answer`` as a pair, or `CheckFailed` saying what to return."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise CheckFailed(f"return a pair ({first}, {second}); got {type(answer).__name__}.")
    return tuple(answer)


# --- Exercise 1.1: the gradient of the mean absolute error ----------------------------------------


def _mae_reference(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Autograd's ``(dL/dw, dL/db)`` for ``L = mean(|X w + b - y|)``, in float64."""
    w_t = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    b_t = torch.tensor(float(b), dtype=torch.float64, requires_grad=True)
    (torch.as_tensor(X) @ w_t + b_t - torch.as_tensor(y)).abs().mean().backward()
    return w_t.grad, b_t.grad


def _mae_hint(dw: torch.Tensor, db: torch.Tensor, X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> str:
    """A hint naming the mistake when ``(dw, db)`` is what a classic wrong derivation gives."""
    residual = torch.as_tensor(X @ w + b - y)
    X_t, n = torch.as_tensor(X), len(y)
    signs = torch.sign(residual)
    mistakes = [
        (
            "that is the gradient of the *squared* error. Here the loss is |e|, whose derivative is sign(e) (np.sign).",
            (2 * X_t.T @ residual / n, 2 * residual.mean()),
        ),
        (
            "the signs are flipped: differentiate |X w + b - y| with respect to w, not y.",
            (-X_t.T @ signs / n, -signs.mean()),
        ),
        ("both are N times too large: L is the mean over the N examples, not their sum.", (X_t.T @ signs, signs.sum())),
        (
            "each entry of dL/dw needs its feature: the derivative of x_i . w + b with respect to w_j is x_ij.",
            (torch.full_like(torch.as_tensor(w), signs.mean().item()), signs.mean()),
        ),
        ("the two are swapped: return (dL/dw, dL/db), in this order.", (signs.mean(), X_t.T @ signs / n)),
    ]
    for hint, (w_grad, b_grad) in mistakes:
        if close(dw, w_grad) and close(db, b_grad):
            return hint
    return "the derivative of |e| is sign(e); apply the chain rule to e_i = x_i . w + b - y_i, then average over i."


@self_check(
    "Exercise 1.1 (the gradient of the mean absolute error)",
    usage="cu.check_mae_gradients(mae_gradients)",
    answer="function",
    call="mae_gradients(X, y, w, b)",
)
def check_mae_gradients(grad_fn: Callable) -> None:
    """``grad_fn(X, y, w, b)`` must return ``(dL/dw, dL/db)`` for ``L = mean(|X w + b - y|)``.

    Args:
        grad_fn: function of NumPy arrays ``X`` of shape (N, D), ``y`` of shape (N,), ``w`` of shape
            (D,) and a float ``b``; returns an array of shape (D,) and a number.
    """
    rng = np.random.default_rng(11)
    for n, d in [(1, 1), (7, 3), (50, 5)]:
        X, y, w, b = rng.normal(size=(n, d)), rng.normal(size=n), rng.normal(size=d), float(rng.normal())
        answer = _pair(grad_fn(X, y, w, b), "dL_dw", "dL_db")
        where = f"for N={n}, D={d}"
        dw = as_tensor(answer[0], f"dL/dw {where}", (d,), "dL/dw has one entry per weight: shape (D,).")
        db = as_tensor(answer[1], f"dL/db {where}", (), "dL/db is one number: the mean over the N examples.")
        ref_w, ref_b = _mae_reference(X, y, w, b)
        if not (close(dw, ref_w, 1e-6, 1e-9) and close(db, ref_b, 1e-6, 1e-9)):
            wrong = "dL/dw" if not close(dw, ref_w, 1e-6, 1e-9) else "dL/db"
            raise CheckFailed(f"{wrong} {where} is not right yet.", _mae_hint(dw, db, X, y, w, b))


# --- Exercise 1.2: the normal equations -----------------------------------------------------------


def _normal_equations_case(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Features with non-zero means (so that a missing bias column shows) and a noisy linear target."""
    X = rng.normal(size=(n, d)) + rng.uniform(1, 3, size=d)
    y = X @ rng.normal(size=d) + rng.uniform(2, 4) + 0.3 * rng.normal(size=n)
    return X, y


def _normal_equations_hint(w: torch.Tensor, b: torch.Tensor, X: np.ndarray, y: np.ndarray) -> str:
    """A hint naming the mistake when ``(w, b)`` is what a classic wrong solution gives."""
    X_tilde = np.column_stack([X, np.ones(len(X))])
    theta = np.linalg.lstsq(X_tilde, y, rcond=None)[0]
    no_bias = np.linalg.lstsq(X, y, rcond=None)[0]
    product = X_tilde.T @ y
    mistakes = [
        (
            "the bias is missing: append a column of ones to X (X_tilde), so that the normal equations also "
            "hold the bias.",
            (no_bias, 0.0),
        ),
        (
            "X_tilde.T @ y is only the right-hand side of the normal equations: solve "
            "(X_tilde.T @ X_tilde) theta = X_tilde.T @ y for theta (np.linalg.solve).",
            (product[:-1], product[-1]),
        ),
        (
            "the weights and the bias are shifted by one: the bias is the coefficient of the column of ones, "
            "wherever you put that column.",
            (np.append(theta[-1], theta[:-2]), theta[-2]),
        ),
        (
            "those are the weights that fit the data with the bias set to its best value for w = 0: solve for "
            "the weights and the bias together.",
            (no_bias, float(np.mean(y))),
        ),
    ]
    for hint, (w_ref, b_ref) in mistakes:
        if close(w, w_ref, 1e-5, 1e-8) and close(b, b_ref, 1e-5, 1e-8):
            return hint
    return "solve X_tilde.T @ X_tilde @ theta = X_tilde.T @ y, with X_tilde = X and a column of ones; theta is (w, b)."


@self_check(
    "Exercise 1.2 (the normal equations)",
    usage="cu.check_normal_equations(normal_equations)",
    answer="function",
    call="normal_equations(X, y)",
)
def check_normal_equations(solve_fn: Callable) -> None:
    """``solve_fn(X, y)`` must return the least-squares ``(w, b)`` of ``y ≈ X w + b``.

    Args:
        solve_fn: function of NumPy arrays ``X`` of shape (N, D) and ``y`` of shape (N,); returns
            ``w`` of shape (D,) and the number ``b``.
    """
    rng = np.random.default_rng(12)
    for n, d in [(5, 1), (40, 3), (200, 6)]:
        X, y = _normal_equations_case(rng, n, d)
        answer = _pair(solve_fn(X, y), "w", "b")
        where = f"for N={n}, D={d}"
        w = as_tensor(answer[0], f"w {where}", (d,), "w has one entry per feature: shape (D,), e.g. theta[:-1].")
        b = as_tensor(answer[1], f"b {where}", (), "b is one number, e.g. theta[-1].")
        X_tilde = torch.cat([torch.as_tensor(X), torch.ones(n, 1, dtype=torch.float64)], dim=1)
        theta = torch.linalg.lstsq(X_tilde, torch.as_tensor(y).unsqueeze(1)).solution.ravel()
        if not (close(w, theta[:-1], 1e-5, 1e-8) and close(b, theta[-1], 1e-5, 1e-8)):
            wrong = "w" if not close(w, theta[:-1], 1e-5, 1e-8) else "b"
            raise CheckFailed(f"{wrong} {where} is not right yet.", _normal_equations_hint(w, b, X, y))


# --- Exercise 1.3: online updates in PyTorch ------------------------------------------------------


def _online_cases() -> list[tuple]:
    """``(X, y, weight, bias, lr, epochs)``: the two points (0, 1), (1, 3) from zero, then random data."""
    gen = torch.Generator().manual_seed(13)
    two_points = (torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0], [3.0]]), torch.zeros(1, 1), torch.zeros(1))
    random = (torch.randn(6, 3, generator=gen), torch.randn(6, 1, generator=gen))
    random += (torch.randn(1, 3, generator=gen), torch.randn(1, generator=gen))
    return [(*two_points, 0.1, 2), (*random, 0.05, 1)]


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    model = nn.Linear(weight.shape[1], 1)
    with torch.no_grad():
        model.weight.copy_(weight), model.bias.copy_(bias)
    return model


def _online_reference(model: nn.Linear, X, y, lr: float, order=None, zero_grad=True, full_batch=False) -> list:
    """One epoch of online SGD on ``model`` (changed in place); returns the losses before each step.

    ``order``, ``zero_grad`` and ``full_batch`` give the classic mistakes: another order, gradients
    left to accumulate, one step on the whole batch.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    batches = [(X, y)] if full_batch else [(X[i : i + 1], y[i : i + 1]) for i in (order or range(len(X)))]
    losses = []
    for X_i, y_i in batches:
        loss = nn.MSELoss()(model(X_i), y_i)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _online_hint(model: nn.Linear, start: nn.Linear, X, y, lr: float, epoch: int) -> str:
    """A hint naming the mistake when ``model``'s parameters are what a classic wrong epoch gives."""
    n = len(X)
    mistakes = [
        ("that is one full-batch step: take one step per example, on X[i:i+1] and y[i:i+1].", {"full_batch": True}),
        ("visit the examples in their order, i = 0, 1, ..., N - 1.", {"order": list(range(n))[::-1]}),
        (
            "the gradients add up across backward() calls: call optimizer.zero_grad() before each backward().",
            {"zero_grad": False},
        ),
    ]
    for hint, mistake in mistakes:
        candidate = _linear(start.weight.detach(), start.bias.detach())
        if mistake.get("zero_grad") is False and epoch > 1:
            continue  # accumulated gradients from an earlier epoch are not in our candidate
        _online_reference(candidate, X, y, lr, **mistake)
        if torch.allclose(candidate.weight, model.weight, atol=1e-6) and torch.allclose(
            candidate.bias, model.bias, atol=1e-6
        ):
            return hint
    if torch.equal(model.weight.detach(), start.weight.detach()) and torch.equal(model.bias.detach(), start.bias):
        return "the parameters did not change: call loss.backward() and optimizer.step() for every example."
    return (
        "for each example in order: loss_fn on that example alone, optimizer.zero_grad(), loss.backward(), "
        "optimizer.step(), with the optimizer you are given."
    )


def _check_losses(losses, expected: list, epoch: int) -> None:
    if isinstance(losses, np.ndarray) and losses.ndim == 1 and losses.dtype.kind == "f":
        losses = losses.tolist()  # an array of floats is as good as a list
    if not isinstance(losses, (list, tuple)):
        raise CheckFailed(f"return the list of the N losses, one per example; got {type(losses).__name__}.")
    if len(losses) != len(expected):
        raise CheckFailed(
            f"return one loss per example: {len(expected)} for {len(expected)} examples, got {len(losses)}.",
            "take one step per example, and append each example's loss.",
        )
    if not all(isinstance(loss, float) for loss in losses):
        kinds = sorted({type(loss).__name__ for loss in losses})
        raise CheckFailed(f"return the losses as Python floats (loss.item()), got {', '.join(kinds)}.")
    if not close(torch.tensor(losses), torch.tensor(expected), 1e-4, 1e-6):
        raise CheckFailed(
            f"the losses returned in epoch {epoch} are not right yet.",
            "each example's loss, computed on that example before its own step (the parameters are right).",
        )


@self_check(
    "Exercise 1.3 (online updates in PyTorch)",
    usage="cu.check_online_epoch(online_epoch)",
    answer="function",
    call="online_epoch(model, loss_fn, optimizer, X, y)",
    may_change=("model", "optimizer"),
)
def check_online_epoch(epoch_fn: Callable) -> None:
    """``epoch_fn(model, loss_fn, optimizer, X, y)`` takes one online step per example, in order.

    Args:
        epoch_fn: function taking an `nn.Module`, a loss function, an optimizer, a float tensor
            ``X`` of shape (N, D) and ``y`` of shape (N, 1); returns the N losses, each computed
            before its own step, as Python floats.
    """
    for X, y, weight, bias, lr, epochs in _online_cases():
        model, reference = _linear(weight, bias), _linear(weight, bias)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        for epoch in range(1, epochs + 1):
            start = _linear(model.weight.detach(), model.bias.detach())
            losses = epoch_fn(model, nn.MSELoss(), optimizer, X, y)
            expected = _online_reference(reference, X, y, lr)
            where = f"after epoch {epoch} on {len(X)} examples with {X.shape[1]} feature{'s' * (X.shape[1] > 1)}"
            if not (
                torch.allclose(model.weight, reference.weight, atol=1e-6)
                and torch.allclose(model.bias, reference.bias, atol=1e-6)
            ):
                raise CheckFailed(
                    f"the parameters {where} are not right yet.", _online_hint(model, start, X, y, lr, epoch)
                )
            _check_losses(losses, expected, epoch)
