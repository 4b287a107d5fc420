"""Chapter 1: the hand-written gradients and gradient descent, and the exercise self-checks."""

import json

import numpy as np
import pytest
import torch

import course_utils as cu

NOTEBOOK = "01_linear_models.ipynb"


def test_hand_written_gradients_match_autograd(scratch):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=20), rng.normal(size=20)
    w = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-0.3, dtype=torch.float64, requires_grad=True)
    ((torch.tensor(y) - (w * torch.tensor(x) + b)) ** 2).mean().backward()
    assert np.mean(scratch["grad_w"](x, y, 0.7, -0.3)) == pytest.approx(w.grad.item())
    assert np.mean(scratch["grad_b"](x, y, 0.7, -0.3)) == pytest.approx(b.grad.item())


def test_zero_input_gives_the_weight_no_gradient(scratch):
    assert scratch["grad_w"](0.0, 1.0, 0.0, 0.0) == 0
    assert scratch["grad_b"](0.0, 1.0, 0.0, 0.0) == -2


def test_gradient_descent_converges_to_least_squares(scratch):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 200)
    y = -1.5 * x + 0.4 + 0.1 * rng.normal(size=200)
    w, b, losses = scratch["gradient_descent"](x, y, lr=0.2, num_steps=500)
    assert (w, b) == pytest.approx(tuple(np.polyfit(x, y, 1)), abs=1e-6)
    assert losses[-1] == pytest.approx(scratch["mse"](y, w * x + b))
    assert all(a >= b - 1e-12 for a, b in zip(losses, losses[1:]))  # monotone for a small enough lr


# --- self-checks: accept the reference solution, reject plausible mistakes, never raise ---


def test_check_gradients(solutions):
    assert cu.check_gradients(solutions["mse_gradients"]).passed

    def sum_not_mean(x, y, w, b):
        e = y - (w * x + b)
        return -2 * np.sum(e * x), -2 * np.sum(e)

    def missing_two(x, y, w, b):
        e = y - (w * x + b)
        return -np.mean(e * x), -np.mean(e)

    def wrong_sign(x, y, w, b):
        e = y - (w * x + b)
        return 2 * np.mean(e * x), 2 * np.mean(e)

    def forgot_x(x, y, w, b):
        e = y - (w * x + b)
        return -2 * np.mean(e), -2 * np.mean(e)

    for wrong in (sum_not_mean, missing_two, wrong_sign, forgot_x):
        result = cu.check_gradients(wrong)
        assert not result.passed and result.hint, wrong.__name__
    assert "pair" in cu.check_gradients(lambda x, y, w, b: 0.0).message
    assert "shape" in cu.check_gradients(lambda x, y, w, b: (np.zeros(3), 0.0)).message


def test_check_gradient_descent(solutions):
    assert cu.check_gradient_descent(solutions["fit_line"]).passed

    def stale_gradient(x, y, lr, num_steps):  # updates b with the already-updated w
        w = b = 0.0
        for _ in range(num_steps):
            w = w + lr * 2 * np.mean((y - (w * x + b)) * x)
            b = b + lr * 2 * np.mean(y - (w * x + b))
        return w, b

    def one_step_short(x, y, lr, num_steps):
        return solutions["fit_line"](x, y, lr, num_steps - 1)

    for wrong in (stale_gradient, one_step_short):
        assert not cu.check_gradient_descent(wrong).passed, wrong.__name__


def test_check_train_step(solutions):
    assert cu.check_train_step(solutions["train_step"]).passed

    def no_zero_grad(model, loss_fn, optimizer, X, y):
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    def no_step(model, loss_fn, optimizer, X, y):
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        return loss.item()

    def returns_tensor(model, loss_fn, optimizer, X, y):
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        return loss

    result = cu.check_train_step(no_zero_grad)
    assert not result.passed and "zero_grad" in result.hint
    result = cu.check_train_step(no_step)
    assert not result.passed and "optimizer.step()" in result.hint
    assert "Python float" in cu.check_train_step(returns_tensor).message


def test_a_crash_or_a_stub_is_a_verdict_not_a_traceback(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 1.1: write mse_gradients")

    result = cu.check_gradients(stub)
    assert not result.passed and "not attempted" in result.message
    result = cu.check_gradients(lambda x, y, w, b: 1 / 0)
    assert not result.passed and "ZeroDivisionError" in result.message
    out = capsys.readouterr().out
    assert "❌ Exercise 1.1" in out and "Traceback" not in out


def test_verdicts_do_not_reveal_the_answer(capsys):
    cu.check_gradients(lambda x, y, w, b: (0.0, 0.0))  # at (x, y) = (0, 1) the answer is (0, -2)
    out = capsys.readouterr().out
    assert "-2" not in out and "Hint" in out


def test_results_are_logged_for_the_grader(tmp_path, monkeypatch, solutions):
    log = tmp_path / "checks.jsonl"
    monkeypatch.setenv("COURSE_CHECK_LOG", str(log))
    cu.check_gradients(solutions["mse_gradients"])
    cu.check_gradient_descent(lambda *args: (0.0, 0.0))
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["name"].split()[1], r["passed"]) for r in rows] == [("1.1", True), ("1.2", False)]
