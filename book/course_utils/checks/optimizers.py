"""Self-checks for chapter 2, `optimizers`."""

import math
from collections.abc import Callable

import torch

from . import CheckFailed, as_tensor, self_check


@self_check(
    "Exercise 2.1 (the largest stable learning rate)",
    usage="cu.check_stable_lr(largest_stable_lr)",
    answer="function",
    call="largest_stable_lr(a, b)",
)
def check_stable_lr(lr_fn: Callable) -> None:
    """``lr_fn(a, b)`` returns the threshold learning rate of gradient descent on ``a*t0**2 + b*t1**2``.

    Args:
        lr_fn: function of two positive floats ``a`` and ``b``; returns a float.
    """
    for a, b in [(1.0, 1.0), (0.02, 1.0), (3.0, 0.5), (0.25, 0.1)]:
        value = as_tensor(lr_fn(a, b), f"largest_stable_lr({a}, {b})", shape=()).item()
        if not math.isclose(value, 1 / max(a, b), rel_tol=1e-6):
            raise CheckFailed(f"largest_stable_lr({a}, {b}) is not right yet.", _stable_lr_hint(value, a, b))


def _stable_lr_hint(value: float, a: float, b: float) -> str:
    """A hint naming the mistake when ``value`` is what a classic wrong formula gives."""
    if math.isclose(value, 1 / min(a, b), rel_tol=1e-6):
        return "the two directions have different limits, and both must be respected: which one is stricter?"
    if math.isclose(value, 2 / max(a, b), rel_tol=1e-6):
        return (
            "the second derivative of a*t**2 is 2a, not a: one step multiplies t by 1 - 2*eta*a. "
            "When is that factor between -1 and 1?"
        )
    return "write one gradient-descent step for each coordinate separately: t <- (1 - 2*eta*a) t, and likewise for b."


def _adagrad_reference(lr: float, eps: float, num_steps: int, seed: int) -> tuple:
    """A start ``theta``, ``num_steps`` gradients and what `torch.optim.Adagrad` makes of them."""
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    grads = [torch.randn(4, 3, dtype=torch.float64, generator=gen) for _ in range(num_steps)]
    param = theta.clone().requires_grad_()
    optimizer = torch.optim.Adagrad([param], lr=lr, eps=eps)
    expected = []
    for grad in grads:
        param.grad = grad.clone()
        optimizer.step()
        expected.append(param.detach().clone())
    return theta, grads, expected


@self_check(
    "Exercise 2.2 (Adagrad by hand)",
    usage="cu.check_adagrad(adagrad_update)",
    answer="function",
    call="adagrad_update(theta, grad, state, lr, eps)",
    may_change=("theta", "state"),
)
def check_adagrad(update_fn: Callable) -> None:
    """``update_fn(theta, grad, state, lr, eps)`` performs one Adagrad step on ``theta`` in place.

    Args:
        update_fn: function of a float64 tensor ``theta`` (updated in place), a tensor ``grad`` of
            the same shape, a dict ``state`` (empty at first, kept between calls) and the floats
            ``lr`` and ``eps``.
    """
    for lr, eps, seed in [(0.01, 1e-10, 0), (0.5, 1e-6, 1)]:
        theta, grads, expected = _adagrad_reference(lr, eps, num_steps=6, seed=seed)
        state = {}
        for step, (grad, target) in enumerate(zip(grads, expected), start=1):
            before = theta.clone()
            update_fn(theta, grad, state, lr=lr, eps=eps)
            if not isinstance(theta, torch.Tensor) or theta.shape != before.shape:
                raise CheckFailed("theta must stay a tensor of the same shape.")
            if torch.equal(theta, before):
                raise CheckFailed(
                    f"theta did not change at step {step}.",
                    "update theta in place (theta -= ...); `theta = theta - ...` only rebinds a local name.",
                )
            if not torch.allclose(theta, target, rtol=1e-7, atol=1e-9):
                hints = {
                    1: "on the first step, s = g**2, so the step is lr * g / (|g| + eps).",
                    2: "keep the sum of squared gradients in `state` so that it grows from one call to the next "
                    "(a sum, not an average).",
                }
                raise CheckFailed(
                    f"theta after step {step} (lr={lr}) differs from torch.optim.Adagrad.", hints.get(step, hints[2])
                )


def _cosine_reference(total: int, lr_max: float, lr_min: float) -> list[float]:
    """The rates of `torch.optim.lr_scheduler.CosineAnnealingLR` at steps 0 to ``total``."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=lr_max)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=lr_min)
    rates = []
    for _ in range(total + 1):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()  # no gradient: the weights stay, but the scheduler sees the usual order of calls
        scheduler.step()
    return rates


def _cosine_hint(value: float, step: int, total: int, lr_max: float, lr_min: float) -> str:
    """A hint naming the mistake when ``value`` is what a classic wrong formula gives."""
    if math.isclose(value, lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * (step // total))), rel_tol=1e-6):
        return "step / total_steps must be a fraction between 0 and 1: step // total_steps is 0 until the last step."
    if step == 0:
        return "at step 0 the rate should be lr_max."
    if step == total:
        return "at the last step (step == total_steps) the rate should be lr_min."
    return "the rate is lr_min plus half of (lr_max - lr_min) times (1 + cos(pi * step / total_steps))."


@self_check(
    "Exercise 2.3 (a cosine schedule)",
    usage="cu.check_cosine_lr(cosine_lr)",
    answer="function",
    call="cosine_lr(step, total_steps, lr_max, lr_min)",
)
def check_cosine_lr(lr_fn: Callable) -> None:
    """``lr_fn(step, total_steps, lr_max, lr_min)`` is the cosine-annealing learning rate at ``step``.

    Compared, step by step, with the rates of `torch.optim.lr_scheduler.CosineAnnealingLR`.

    Args:
        lr_fn: function of ints ``step`` (0 to ``total_steps``) and ``total_steps`` and floats
            ``lr_max`` and ``lr_min``; returns a float.
    """
    for total, lr_max, lr_min in [(10, 0.1, 0.0), (7, 0.3, 0.05), (100, 1.0, 0.01)]:
        for step, expected in enumerate(_cosine_reference(total, lr_max, lr_min)):
            value = as_tensor(lr_fn(step, total, lr_max, lr_min), f"cosine_lr({step}, {total}, ...)", shape=()).item()
            if not math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-12):
                raise CheckFailed(
                    f"cosine_lr({step}, {total}, {lr_max}, {lr_min}) is not right yet.",
                    _cosine_hint(value, step, total, lr_max, lr_min),
                )
