"""Chapter 1: the hand-written gradients and gradient descent, and the exercise self-checks."""

import json
import re

import numpy as np
import pytest
import torch

import course_utils as cu
from verdicts import ROW, Solution, answer_of, assert_verdict, rows

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
    path = scratch["full_batch_descent"](x, y, lr=0.2, num_steps=500)
    assert path.shape == (501, 2) and tuple(path[0]) == (0.0, 0.0)
    assert tuple(path[-1]) == pytest.approx(tuple(np.polyfit(x, y, 1)), abs=1e-6)
    losses = [scratch["mse"](y, w * x + b) for w, b in path]
    assert all(a >= b - 1e-12 for a, b in zip(losses, losses[1:]))  # monotone for a small enough lr


def _torch_sgd_path(x, y, lr, num_epochs, batch):
    """(w, b) after every step of torch.optim.SGD on the MSE from zero, batches of ``batch`` examples in order."""
    model = torch.nn.Linear(1, 1, dtype=torch.float64)
    torch.nn.init.zeros_(model.weight), torch.nn.init.zeros_(model.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    X, Y = torch.tensor(x).reshape(-1, 1), torch.tensor(y).reshape(-1, 1)
    path = [(0.0, 0.0)]
    for _ in range(num_epochs):
        for start in range(0, len(x), batch):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(X[start : start + batch]), Y[start : start + batch]).backward()
            optimizer.step()
            path.append((model.weight.item(), model.bias.item()))
    return np.array(path)


def test_online_descent_takes_the_steps_computed_by_hand_on_the_two_points(scratch):
    path = scratch["online_descent"](np.array([0.0, 1.0]), np.array([1.0, 3.0]), lr=0.1, num_epochs=2)
    # (0, 1) moves b only: 0 + 0.1 * 2 * 1; (1, 3): error 2.8, both move by 0.56; (0, 1): error 0.24; ...
    expected = [(0, 0), (0, 0.2), (0.56, 0.76), (0.56, 0.808), (0.8864, 1.1344)]
    np.testing.assert_allclose(path, expected, atol=1e-12)


def test_online_and_full_batch_descent_match_torch_sgd(scratch):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=7), rng.normal(size=7)
    online = scratch["online_descent"](x, y, lr=0.05, num_epochs=3)
    np.testing.assert_allclose(online, _torch_sgd_path(x, y, 0.05, 3, batch=1), rtol=1e-10, atol=1e-12)
    full = scratch["full_batch_descent"](x, y, lr=0.05, num_steps=3)
    np.testing.assert_allclose(full, _torch_sgd_path(x, y, 0.05, 3, batch=7), rtol=1e-10, atol=1e-12)


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


# --- every check's table: the reference, plausible mistakes, in-place changes, junk --------------


def _gradients(x, y, w, b):
    error = y - (w * x + b)
    return -2 * np.mean(error * x), -2 * np.mean(error)


def _aliased_gradients(x, y, w, b):  # right values, but `error = y` is y itself: y is changed
    error = y
    error -= w * x + b
    return -2 * np.mean(error * x), -2 * np.mean(error)


def _centres_x_then_gradients(x, y, w, b):
    x -= x.mean()
    return _gradients(x, y, w, b)


GRADIENT_ANSWERS = [
    ("reference", Solution("mse_gradients"), "passed", ()),
    ("signs flipped", lambda *a: tuple(-g for g in _gradients(*a)), "wrong", ("signs",)),
    ("swapped", lambda *a: _gradients(*a)[::-1], "wrong", ("swapped",)),
    ("factor 2 missing", lambda *a: tuple(g / 2 for g in _gradients(*a)), "wrong", ("half",)),
    ("sum, not mean", lambda x, y, w, b: tuple(len(x) * g for g in _gradients(x, y, w, b)), "wrong", ("N times",)),
    ("x forgotten in dL/dw", lambda *a: (_gradients(*a)[1],) * 2, "wrong", ("factor x_i",)),
    ("per-point terms", lambda x, y, w, b: (-2 * (y - w * x - b) * x, -2 * (y - w * x - b)), "wrong", ("one number",)),
    ("aliasing slip", _aliased_gradients, "changed-input", ("`y`", "y.copy()")),
    ("changes x, then answers", _centres_x_then_gradients, "wrong", ("`x`", "in place")),
    ("tensors", lambda *a: tuple(torch.tensor(g) for g in _gradients(*a)), "passed", ()),
    ("None", lambda *a: None, "wrong", ("pair",)),
    ("a string", lambda *a: "dw, db", "wrong", ("pair",)),
    ("three numbers", lambda *a: (*_gradients(*a), 0.0), "wrong", ("pair",)),
    ("crashes", lambda x, y, w, b: x + {}, "raised", ("TypeError", "mse_gradients(x, y, w, b)")),
]


@pytest.mark.parametrize(ROW, rows(GRADIENT_ANSWERS))
def test_check_gradients_table(answer, kind, words, solutions):
    assert_verdict(cu.check_gradients(answer_of(answer, solutions)), kind, words)


def _descent(x, y, lr, num_steps, start=0.0):
    w = b = start
    for _ in range(num_steps):
        error = y - (w * x + b)
        w, b = w + lr * 2 * np.mean(error * x), b + lr * 2 * np.mean(error)
    return w, b


def _descent_one_at_a_time(x, y, lr, num_steps):
    w = b = 0.0
    for _ in range(num_steps):
        w = w + lr * 2 * np.mean((y - (w * x + b)) * x)
        b = b + lr * 2 * np.mean(y - (w * x + b))
    return w, b


def _descent_then_clears_x(x, y, lr, num_steps):
    result = _descent(x, y, lr, num_steps)
    x[:] = 0.0
    return result


def _descent_on_centred_x(x, y, lr, num_steps):
    x -= x.mean()
    return _descent(x, y, lr, num_steps)


DESCENT_ANSWERS = [
    ("reference", Solution("fit_line"), "passed", ()),
    ("b updated with the new w", _descent_one_at_a_time, "wrong", ("current",)),
    ("uphill", lambda x, y, lr, n: _descent(x, y, -lr, n), "wrong", ("uphill",)),
    ("factor 2 missing", lambda x, y, lr, n: _descent(x, y, lr / 2, n), "wrong", ("half",)),
    ("one step short", lambda x, y, lr, n: _descent(x, y, lr, n - 1), "wrong", ("num_steps",)),
    ("one step more", lambda x, y, lr, n: _descent(x, y, lr, n + 1), "wrong", ("num_steps",)),
    ("starts from one", lambda x, y, lr, n: _descent(x, y, lr, n, start=1.0), "wrong", ("w = b = 0",)),
    ("clears x afterwards", _descent_then_clears_x, "changed-input", ("`x`",)),
    ("centres x first", _descent_on_centred_x, "wrong", ("`x`", "in place")),
    ("also returns the losses", lambda *a: (*_descent(*a), []), "wrong", ("pair",)),
    ("arrays of one number", lambda *a: tuple(np.array([v]) for v in _descent(*a)), "wrong", ("shape",)),
    ("crashes", lambda x, y, lr, num_steps: range(num_steps)[num_steps], "raised", ("IndexError",)),
]


@pytest.mark.parametrize(ROW, rows(DESCENT_ANSWERS))
def test_check_gradient_descent_table(answer, kind, words, solutions):
    assert_verdict(cu.check_gradient_descent(answer_of(answer, solutions)), kind, words)


def _step(model, loss_fn, optimizer, X, y, *, zero_grad="before", steps=1, loss_after=False, result=float):
    loss = loss_fn(model(X), y)
    if zero_grad == "before":
        optimizer.zero_grad()
    loss.backward()
    if zero_grad == "between":
        optimizer.zero_grad()
    for _ in range(steps):
        optimizer.step()
    if loss_after:
        loss = loss_fn(model(X), y)
    return loss.item() if result is float else result(loss)


def _step_with_a_new_optimizer(model, loss_fn, optimizer, X, y):
    return _step(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.01), X, y)


def _step_without_gradients(model, loss_fn, optimizer, X, y):
    with torch.no_grad():
        return _step(model, loss_fn, optimizer, X, y)


def _step_then_clears_X(model, loss_fn, optimizer, X, y):
    loss = _step(model, loss_fn, optimizer, X, y)
    X.zero_()
    return loss


def _step_on_standardised_X(model, loss_fn, optimizer, X, y):
    X -= X.mean(dim=0)
    return _step(model, loss_fn, optimizer, X, y)


TRAIN_STEP_ANSWERS = [
    ("reference", Solution("train_step"), "passed", ()),
    ("no zero_grad", lambda *a: _step(*a, zero_grad="never"), "wrong", ("zero_grad",)),
    ("zero_grad between backward and step", lambda *a: _step(*a, zero_grad="between"), "wrong", ("did not change",)),
    ("no step", lambda *a: _step(*a, steps=0), "wrong", ("optimizer.step()", "did not change")),
    ("two steps", lambda *a: _step(*a, steps=2), "wrong", ("exactly one step",)),
    ("a new optimizer", _step_with_a_new_optimizer, "wrong", ("the optimizer you are given",)),
    ("the loss after the step", lambda *a: _step(*a, loss_after=True), "wrong", ("*after*", "before")),
    ("a tensor", lambda *a: _step(*a, result=lambda loss: loss), "wrong", ("Python float",)),
    ("None", lambda *a: _step(*a, result=lambda loss: None), "wrong", ("Python float", "NoneType")),
    ("under no_grad", _step_without_gradients, "raised", ("RuntimeError", "torch.no_grad()")),
    ("clears X afterwards", _step_then_clears_X, "changed-input", ("`X`", "X.clone()")),
    ("standardises X first", _step_on_standardised_X, "wrong", ("`X`", "in place")),
]


@pytest.mark.parametrize(ROW, rows(TRAIN_STEP_ANSWERS))
def test_check_train_step_table(answer, kind, words, solutions):
    assert_verdict(cu.check_train_step(answer_of(answer, solutions)), kind, words)


def test_the_chapter_shows_at_least_three_quiz_questions_and_every_quiz_it_names_exists():
    from course_utils.quizzes import load_quizzes
    from nbdefs import cells_with_tag

    quizzes = load_quizzes("01_linear_models")
    shown = [
        re.fullmatch(r'cu\.quiz\("01_linear_models", "([\w-]+)"\)', source.strip())
        for source in cells_with_tag(NOTEBOOK, "remove-input")
    ]
    names = [match.group(1) for match in shown if match]
    assert sorted(names) == sorted(quizzes)  # every quiz shown once, and only those
    assert sum(len(quizzes[name]) for name in names) >= 3
