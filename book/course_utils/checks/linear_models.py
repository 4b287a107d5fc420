"""Self-checks for chapter 1, `linear_models`."""

import numpy as np
import torch
from torch import nn

from . import CheckFailed, expect_close, self_check


def _mse_reference(x, y, w, b):
    w, b = (
        torch.tensor(float(w), dtype=torch.float64, requires_grad=True),
        torch.tensor(float(b), dtype=torch.float64, requires_grad=True),
    )
    loss = ((torch.as_tensor(y) - (w * torch.as_tensor(x) + b)) ** 2).mean()
    loss.backward()
    return w.grad.item(), b.grad.item()


@self_check("Exercise 1.1 (gradients of the mean squared error)")
def check_gradients(grad_fn) -> None:
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
        dw, db = _mse_reference(x, y, w, b)
        hint = "differentiate (y - w*x - b)**2 with the chain rule, then average over the N points."
        expect_close(answer[0], dw, f"dL/dw for N={len(x)}", hint)
        expect_close(answer[1], db, f"dL/db for N={len(x)}", hint)


def _gd_reference(x, y, lr, num_steps):
    w = b = 0.0
    for _ in range(num_steps):
        error = y - (w * x + b)
        w, b = w + lr * 2 * np.mean(error * x), b + lr * 2 * np.mean(error)
    return w, b


@self_check("Exercise 1.2 (gradient descent from zero)")
def check_gradient_descent(gd_fn) -> None:
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
        hint = "start from w = b = 0 and update both with the gradients from the *current* w and b."
        expect_close(answer[0], _gd_reference(x, y, lr, num_steps)[0], f"w after {num_steps} steps", hint)
        expect_close(answer[1], _gd_reference(x, y, lr, num_steps)[1], f"b after {num_steps} steps", hint)


@self_check("Exercise 1.3 (one PyTorch training step)")
def check_train_step(step_fn) -> None:
    """``step_fn(model, loss_fn, optimizer, X, y)`` takes one optimisation step, returns the loss.

    Args:
        step_fn: function taking an `nn.Module`, a loss function, an optimizer, a float tensor
            ``X`` of shape (N, D) and ``y`` of shape (N, 1); returns the loss before the step
            as a Python float.
    """
    torch.manual_seed(3)
    X, y = torch.randn(16, 4), torch.randn(16, 1)
    model, reference = nn.Linear(4, 1), nn.Linear(4, 1)
    reference.load_state_dict(model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    for step in (1, 2):
        loss = step_fn(model, nn.MSELoss(), optimizer, X, y)
        ref_optimizer.zero_grad()
        ref_loss = nn.MSELoss()(reference(X), y)
        ref_loss.backward()
        ref_optimizer.step()
        if not isinstance(loss, float):
            raise CheckFailed(f"return the loss as a Python float (use loss.item()), got {type(loss).__name__}.")
        expect_close(loss, ref_loss.item(), f"the loss returned at step {step}")
        if not torch.allclose(model.weight.detach(), reference.weight.detach(), atol=1e-6):
            hints = {
                1: "did you call optimizer.step() after loss.backward()?",
                2: "gradients add up across backward() calls: call optimizer.zero_grad() every step.",
            }
            raise CheckFailed(f"the weights after step {step} are not what one SGD step gives.", hints[step])
