"""Self-checks for chapter 1, `linear_models`."""

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from . import CheckFailed, as_tensor, close, self_check


def _mse_reference(x: np.ndarray, y: np.ndarray, w: float, b: float) -> tuple[float, float]:
    w, b = (torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for v in (w, b))
    loss = ((torch.as_tensor(y) - (w * torch.as_tensor(x) + b)) ** 2).mean()
    loss.backward()
    return w.grad.item(), b.grad.item()


def _gradient_hint(answer: tuple, dw: float, db: float, n: int) -> str:
    """A hint naming the mistake when ``answer`` is a classic wrong pair of gradients."""
    mistakes = [
        ("the signs are flipped: mind the inner derivative of y - (w*x + b) in the chain rule.", (-dw, -db)),
        ("the two are swapped: return (dL/dw, dL/db), in this order.", (db, dw)),
        (
            "both are half their size: the derivative of error**2 is 2 * error * (derivative of error).",
            (dw / 2, db / 2),
        ),
        ("dL/dw lacks the factor x_i: the derivative of w*x_i + b with respect to w is x_i.", (db, db)),
    ]
    if n > 1:
        mistakes.append(
            ("both are N times too large: L is the mean over the N points, not their sum.", (n * dw, n * db))
        )
    for hint, (w_grad, b_grad) in mistakes:
        if close(answer[0], w_grad) and close(answer[1], b_grad):
            return hint
    return "differentiate (y - w*x - b)**2 with the chain rule, then average over the N points."


@self_check(
    "Exercise 1.1 (gradients of the mean squared error)",
    usage="cu.check_gradients(mse_gradients)",
    answer="function",
    call="mse_gradients(x, y, w, b)",
)
def check_gradients(grad_fn: Callable) -> None:
    """``grad_fn(x, y, w, b)`` must return ``(dL/dw, dL/db)`` for ``L = mean((y - (w*x + b))**2)``.

    Args:
        grad_fn: function of NumPy arrays ``x``, ``y`` of shape (N,) and floats ``w``, ``b``.
    """
    rng = np.random.default_rng(1)
    cases = [(np.array([0.0]), np.array([1.0]), 0.0, 0.0)]
    cases += [(rng.normal(size=n), rng.normal(size=n), rng.normal(), rng.normal()) for n in (1, 5, 50)]
    for x, y, w, b in cases:
        answer = grad_fn(x, y, w, b)
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise CheckFailed(f"return a pair (dL_dw, dL_db); got {type(answer).__name__}.")
        one_number = "return one number for each gradient: the mean over the N points (np.mean)."
        answer = [as_tensor(a, f"dL/d{v} for N={len(x)}", (), one_number) for a, v in zip(answer, "wb")]
        dw, db = _mse_reference(x, y, w, b)
        if not (close(answer[0], dw, 1e-4, 1e-6) and close(answer[1], db, 1e-4, 1e-6)):
            wrong = "dL/dw" if not close(answer[0], dw, 1e-4, 1e-6) else "dL/db"
            raise CheckFailed(f"{wrong} for N={len(x)} is not right yet.", _gradient_hint(answer, dw, db, len(x)))


def _gd_reference(x: np.ndarray, y: np.ndarray, lr: float, num_steps: int, one_at_a_time: bool = False) -> tuple:
    """Gradient descent from zero; ``one_at_a_time`` updates b with the new w (a classic mistake)."""
    w = b = 0.0
    with np.errstate(all="ignore"):
        for _ in range(num_steps):
            new_w = w + lr * 2 * np.mean((y - (w * x + b)) * x)
            b = b + lr * 2 * np.mean(y - ((new_w if one_at_a_time else w) * x + b))
            w = new_w
    return w, b


def _gd_hint(answer: list, x: np.ndarray, y: np.ndarray, lr: float, num_steps: int) -> str:
    """A hint naming the mistake when ``answer`` is what a classic wrong loop gives."""
    mistakes = [
        ("update b with the gradient at the *current* w and b: compute both gradients, then update both.", lr, 0, True),
        ("the steps go uphill: move against the gradient, w <- w - lr * dL/dw.", -lr, 0, False),
        ("the steps are half as long: the gradient of the mean squared error has a factor 2.", lr / 2, 0, False),
        ("take exactly num_steps steps, starting from w = b = 0.", lr, -1, False),
        ("take exactly num_steps steps, starting from w = b = 0.", lr, 1, False),
    ]
    for hint, rate, extra, one_at_a_time in mistakes:
        if num_steps + extra >= 0 and all(
            close(a, e) for a, e in zip(answer, _gd_reference(x, y, rate, num_steps + extra, one_at_a_time))
        ):
            return hint
    return "start from w = b = 0 and update both with the gradients from the *current* w and b."


@self_check(
    "Exercise 1.2 (gradient descent from zero)",
    usage="cu.check_gradient_descent(fit_line)",
    answer="function",
    call="fit_line(x, y, lr, num_steps)",
)
def check_gradient_descent(gd_fn: Callable) -> None:
    """``gd_fn(x, y, lr, num_steps)`` runs full-batch gradient descent on the MSE from ``w = b = 0``.

    Args:
        gd_fn: function of NumPy arrays ``x``, ``y`` of shape (N,), a float ``lr`` and an int
            ``num_steps``; returns the final ``(w, b)``.
    """
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=30)
    y = 3 * x - 0.5 + 0.1 * rng.normal(size=30)
    for lr, num_steps in [(0.1, 1), (0.1, 5), (0.3, 200)]:
        answer = gd_fn(x, y, lr, num_steps)
        if not isinstance(answer, (tuple, list)) or len(answer) != 2:
            raise CheckFailed(f"return a pair (w, b); got {type(answer).__name__}.")
        steps = f"{num_steps} step{'s' if num_steps > 1 else ''}"
        answer = [as_tensor(a, f"{v} after {steps}", ()) for a, v in zip(answer, "wb")]
        expected = _gd_reference(x, y, lr, num_steps)
        for value, target, name in zip(answer, expected, "wb"):
            if not close(value, target, 1e-4, 1e-6):
                raise CheckFailed(f"{name} after {steps} is not right yet.", _gd_hint(answer, x, y, lr, num_steps))


def _train_step_case() -> tuple:
    """The check's fixed data and a model with fixed weights, drawn from a private generator."""
    gen = torch.Generator().manual_seed(3)
    X, y = torch.randn(16, 4, generator=gen), torch.randn(16, 1, generator=gen)
    model = nn.Linear(4, 1)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, 4, generator=gen))
        model.bias.copy_(torch.randn(1, generator=gen))
    return X, y, model


def _weights_hint(step: int, before: torch.Tensor, after: torch.Tensor) -> str:
    if torch.equal(before, after):
        return (
            "the weights did not change: call loss.backward() and then optimizer.step(), with "
            "optimizer.zero_grad() before backward() (between backward() and step() it erases the gradients)."
        )
    if step == 2:
        return "gradients add up across backward() calls: call optimizer.zero_grad() every step."
    return "take exactly one step, with the optimizer you are given (no second step, no new optimizer)."


@self_check(
    "Exercise 1.3 (one PyTorch training step)",
    usage="cu.check_train_step(train_step)",
    answer="function",
    call="train_step(model, loss_fn, optimizer, X, y)",
    may_change=("model", "optimizer"),
)
def check_train_step(step_fn: Callable) -> None:
    """``step_fn(model, loss_fn, optimizer, X, y)`` takes one optimisation step, returns the loss.

    Args:
        step_fn: function taking an `nn.Module`, a loss function, an optimizer, a float tensor
            ``X`` of shape (N, D) and ``y`` of shape (N, 1); returns the loss before the step
            as a Python float.
    """
    X, y, model = _train_step_case()
    reference = nn.Linear(4, 1)
    reference.load_state_dict(model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    for step in (1, 2):
        before = model.weight.detach().clone()
        loss = step_fn(model, nn.MSELoss(), optimizer, X, y)
        ref_optimizer.zero_grad()
        ref_loss = nn.MSELoss()(reference(X), y)
        ref_loss.backward()
        ref_optimizer.step()
        if not isinstance(loss, float):
            raise CheckFailed(f"return the loss as a Python float (use loss.item()), got {type(loss).__name__}.")
        if not close(loss, ref_loss.item(), 1e-4, 1e-6):
            after_step = close(loss, nn.MSELoss()(reference(X), y).item(), 1e-4, 1e-6)
            hint = (
                "that is the loss *after* the update: return the loss computed before optimizer.step()."
                if after_step
                else "return loss.item() for the loss of the model's predictions on X, before the update."
            )
            raise CheckFailed(f"the loss returned at step {step} is not right yet.", hint)
        if not torch.allclose(model.weight.detach(), reference.weight.detach(), atol=1e-6):
            raise CheckFailed(
                f"the weights after step {step} are not what one SGD step gives.",
                _weights_hint(step, before, model.weight.detach()),
            )
