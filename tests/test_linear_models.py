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


# --- self-checks: a crash, a stub and the log are verdicts; no verdict gives the answer away ------


def test_a_crash_or_a_stub_is_a_verdict_not_a_traceback(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 1.1: write mae_gradients")

    result = cu.check_mae_gradients(stub)
    assert not result.passed and "not attempted" in result.message
    result = cu.check_mae_gradients(lambda X, y, w, b: 1 / 0)
    assert not result.passed and "ZeroDivisionError" in result.message
    out = capsys.readouterr().out
    assert "❌ Exercise 1.1" in out and "Traceback" not in out


def _numbers_in(text: str) -> set[float]:
    return {round(float(n), 2) for n in re.findall(r"-?\d+\.\d+", text)}


def test_verdicts_do_not_reveal_the_answer(capsys, solutions):
    """Wrong answers get hints, never the reference numbers (e.g. 0.56 and 0.76 after an online epoch)."""
    cu.check_mae_gradients(lambda X, y, w, b: (np.zeros_like(w), 0.0))
    cu.check_normal_equations(lambda X, y: (np.zeros(X.shape[1]), 0.0))
    cu.check_online_epoch(lambda model, loss_fn, optimizer, X, y: [0.0] * len(X))  # never steps
    out = capsys.readouterr().out
    assert out.count("Hint") == 3 and not {0.56, 0.76, 0.2} & _numbers_in(out)


def test_results_are_logged_for_the_grader(tmp_path, monkeypatch, solutions):
    log = tmp_path / "checks.jsonl"
    monkeypatch.setenv("COURSE_CHECK_LOG", str(log))
    cu.check_mae_gradients(solutions["mae_gradients"])
    cu.check_normal_equations(lambda X, y: (0.0, 0.0))
    cu.check_online_epoch(solutions["online_epoch"])
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["name"].split()[1], r["passed"]) for r in rows] == [("1.1", True), ("1.2", False), ("1.3", True)]


# --- every check's table: the reference, equivalent answers, plausible mistakes, in-place changes ---


def _mae(X, y, w, b):
    signs = np.sign(X @ w + b - y)
    return X.T @ signs / len(y), np.mean(signs)


def _mae_in_a_loop(X, y, w, b):  # the same, example by example: an equivalent formulation
    dw, db = np.zeros(X.shape[1]), 0.0
    for x_i, y_i in zip(X, y):
        e = x_i @ w + b - y_i
        dw, db = dw + np.sign(e) * x_i / len(y), db + np.sign(e) / len(y)
    return dw, db


def _mae_by_autograd(X, y, w, b):  # autograd itself is a right answer (the exercise asks for NumPy)
    w_t, b_t = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    (torch.tensor(X) @ w_t + b_t - torch.tensor(y)).abs().mean().backward()
    return w_t.grad.numpy(), b_t.grad.item()


def _squared_error_gradients(X, y, w, b):
    return 2 * X.T @ (X @ w + b - y) / len(y), 2 * np.mean(X @ w + b - y)


def _mae_overwrites_w(X, y, w, b):
    result = _mae(X, y, w, b)
    w[:] = 0.0
    return result


def _mae_on_standardised_X(X, y, w, b):
    X -= X.mean(axis=0)
    return _mae(X, y, w, b)


MAE_ANSWERS = [
    ("reference", Solution("mae_gradients"), "passed", ()),
    ("a loop over examples", _mae_in_a_loop, "passed", ()),
    ("autograd", _mae_by_autograd, "passed", ()),
    ("tensors", lambda *a: tuple(torch.as_tensor(g) for g in _mae(*a)), "passed", ()),
    ("w as a list", lambda *a: (list(_mae(*a)[0]), _mae(*a)[1]), "passed", ()),
    ("the squared error's gradient", _squared_error_gradients, "wrong", ("*squared*", "np.sign")),
    ("signs flipped", lambda *a: tuple(-g for g in _mae(*a)), "wrong", ("signs",)),
    ("sum, not mean", lambda X, y, w, b: tuple(len(y) * g for g in _mae(X, y, w, b)), "wrong", ("N times",)),
    ("features forgotten", lambda *a: (np.full(a[0].shape[1], _mae(*a)[1]), _mae(*a)[1]), "wrong", ("x_ij",)),
    ("abs, not sign", lambda X, y, w, b: (X.T @ np.abs(X @ w + b - y) / len(y), np.mean(np.abs(X @ w + b - y))),
     "wrong", ("not right yet", "sign(e)")),
    ("X, not X transposed", lambda X, y, w, b: (X @ np.sign(X @ w + b - y) / len(y), _mae(X, y, w, b)[1]), "raised",
     ("ValueError", "mae_gradients(X, y, w, b) with X: float64 array of shape (7, 3)")),
    ("one gradient per example", lambda X, y, w, b: (X.T @ np.sign(X @ w + b - y) / len(y), np.sign(X @ w + b - y)),
     "wrong", ("one number",)),
    ("a column, not a vector", lambda *a: (_mae(*a)[0][:, None], _mae(*a)[1]), "wrong", ("shape (D,)",)),
    ("swapped", lambda *a: _mae(*a)[::-1], "wrong", ("shape (D,)",)),
    ("None", lambda *a: None, "wrong", ("pair",)),
    ("three values", lambda *a: (*_mae(*a), 0.0), "wrong", ("pair",)),
    ("overwrites w", _mae_overwrites_w, "changed-input", ("`w`", "w.copy()")),
    ("standardises X first", _mae_on_standardised_X, "wrong", ("`X`", "in place")),
]  # fmt: skip


@pytest.mark.parametrize(ROW, rows(MAE_ANSWERS))
def test_check_mae_gradients_table(answer, kind, words, solutions):
    assert_verdict(cu.check_mae_gradients(answer_of(answer, solutions)), kind, words)


def _with_ones(X):
    return np.column_stack([X, np.ones(len(X))])


def _lstsq(X, y):  # a least-squares routine: right, though the exercise asks for np.linalg.solve
    theta = np.linalg.lstsq(_with_ones(X), y, rcond=None)[0]
    return theta[:-1], theta[-1]


def _ones_first(X, y):  # the column of ones in front: right, if b is read from the front
    X_tilde = np.column_stack([np.ones(len(X)), X])
    theta = np.linalg.solve(X_tilde.T @ X_tilde, X_tilde.T @ y)
    return theta[1:], theta[0]


def _ones_first_read_as_last(X, y):
    X_tilde = np.column_stack([np.ones(len(X)), X])
    theta = np.linalg.solve(X_tilde.T @ X_tilde, X_tilde.T @ y)
    return theta[:-1], theta[-1]


def _inverse(X, y):
    X_tilde = _with_ones(X)
    theta = np.linalg.inv(X_tilde.T @ X_tilde) @ X_tilde.T @ y
    return theta[:-1], theta[-1]


def _centred(X, y):  # no column of ones: centre, solve for w, then b = mean(y) - mean(x) . w
    X_c = X - X.mean(axis=0)
    w = np.linalg.solve(X_c.T @ X_c, X_c.T @ (y - y.mean()))
    return w, y.mean() - X.mean(axis=0) @ w


def _no_bias_column(X, y):
    return np.linalg.solve(X.T @ X, X.T @ y), 0.0


def _no_inverse(X, y):
    theta = _with_ones(X).T @ y
    return theta[:-1], theta[-1]


def _no_bias_then_mean(X, y):
    return np.linalg.solve(X.T @ X, X.T @ y), np.mean(y)


def _solve_centres_X_in_place(X, y):
    X -= X.mean(axis=0)
    return _lstsq(X, y)


def _solve_then_appends_to_y(X, y):
    result = _lstsq(X, y)
    y *= 2
    return result


NORMAL_ANSWERS = [
    ("reference", Solution("normal_equations"), "passed", ()),
    ("lstsq", _lstsq, "passed", ()),
    ("ones first", _ones_first, "passed", ()),
    ("inverse", _inverse, "passed", ()),
    ("centred, no column of ones", _centred, "passed", ()),
    ("torch", lambda X, y: tuple(torch.as_tensor(v) for v in _lstsq(X, y)), "passed", ()),
    ("no bias column", _no_bias_column, "wrong", ("not right yet", "column of ones")),
    ("X_tilde.T @ y without the inverse", _no_inverse, "wrong", ("right-hand side", "np.linalg.solve")),
    ("ones first, read as last", _ones_first_read_as_last, "wrong", ("shifted by one",)),
    ("no bias, then b = mean(y)", _no_bias_then_mean, "wrong", ("together",)),
    ("theta, not (w, b)", lambda X, y: np.append(*_lstsq(X, y)), "wrong", ("pair",)),
    ("w as a column", lambda X, y: (_lstsq(X, y)[0][:, None], _lstsq(X, y)[1]), "wrong", ("shape (D,)",)),
    ("b as a one-element array", lambda X, y: (_lstsq(X, y)[0], _lstsq(X, y)[1:]), "wrong", ("one number",)),
    ("centres X in place", _solve_centres_X_in_place, "wrong", ("`X`", "in place")),
    ("doubles y afterwards", _solve_then_appends_to_y, "changed-input", ("`y`", "y.copy()")),
    ("singular", lambda X, y: np.linalg.solve(np.zeros((2, 2)), np.ones(2)), "raised", ("LinAlgError",)),
]


@pytest.mark.parametrize(ROW, rows(NORMAL_ANSWERS))
def test_check_normal_equations_table(answer, kind, words, solutions):
    assert_verdict(cu.check_normal_equations(answer_of(answer, solutions)), kind, words)


def _epoch(model, loss_fn, optimizer, X, y, *, order=None, zero_grad=True, loss_after=False, result=float):
    losses = []
    for i in order or range(len(X)):
        loss = loss_fn(model(X[i : i + 1]), y[i : i + 1])
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss_after:
            loss = loss_fn(model(X[i : i + 1]), y[i : i + 1])
        losses.append(result(loss.item()) if result is float else result(loss))
    return losses


def _epoch_by_rows(model, loss_fn, optimizer, X, y):  # X[i] of shape (D,), y[i] of shape (1,): the same
    losses = []
    for x_i, y_i in zip(X, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x_i), y_i)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _epoch_by_hand(model, loss_fn, optimizer, X, y):  # a manual SGD step with the optimizer's rate
    lr, losses = optimizer.param_groups[0]["lr"], []
    for i in range(len(X)):
        loss = ((model(X[i : i + 1]) - y[i : i + 1]) ** 2).mean()
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(loss.item())
    return losses


def _full_batch(model, loss_fn, optimizer, X, y):
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    return [loss.item()] * len(X)


def _new_optimizer(model, loss_fn, optimizer, X, y):
    return _epoch(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.01), X, y)


def _shuffled(model, loss_fn, optimizer, X, y):
    return _epoch(model, loss_fn, optimizer, X, y, order=torch.randperm(len(X)).tolist())


def _epoch_then_clears_X(model, loss_fn, optimizer, X, y):
    losses = _epoch(model, loss_fn, optimizer, X, y)
    X.zero_()
    return losses


def _epoch_on_standardised_X(model, loss_fn, optimizer, X, y):
    X -= X.mean(dim=0)
    return _epoch(model, loss_fn, optimizer, X, y)


ONLINE_ANSWERS = [
    ("reference", Solution("online_epoch"), "passed", ()),
    ("rows, not slices", _epoch_by_rows, "passed", ()),
    ("a manual step", _epoch_by_hand, "passed", ()),
    ("a tuple of losses", lambda *a: tuple(_epoch(*a)), "passed", ()),
    ("an array of losses", lambda *a: np.array(_epoch(*a)), "passed", ()),
    ("one full-batch step", _full_batch, "wrong", ("full-batch", "one step per example")),
    ("reversed order", lambda *a: _epoch(*a, order=[1, 0] if len(a[3]) == 2 else list(range(len(a[3])))[::-1]),
     "wrong", ("in their order",)),
    ("shuffled", _shuffled, "wrong", ("not right yet",)),
    ("no zero_grad", lambda *a: _epoch(*a, zero_grad=False), "wrong", ("zero_grad",)),
    ("a new optimizer", _new_optimizer, "wrong", ("the optimizer you are given",)),
    ("never steps", lambda model, loss_fn, optimizer, X, y: [0.0] * len(X), "wrong", ("did not change",)),
    ("losses after the steps", lambda *a: _epoch(*a, loss_after=True), "wrong", ("before its own step",)),
    ("losses as tensors", lambda *a: _epoch(*a, result=lambda loss: loss), "wrong", ("Python floats", "Tensor")),
    ("the last loss only", lambda *a: _epoch(*a)[-1], "wrong", ("list of the N losses",)),
    ("nothing returned", lambda *a: _epoch(*a) and None, "wrong", ("list of the N losses", "NoneType")),
    ("clears X afterwards", _epoch_then_clears_X, "changed-input", ("`X`", "X.clone()")),
    ("standardises X first", _epoch_on_standardised_X, "wrong", ("`X`", "in place")),
    ("under no_grad", lambda *a: torch.no_grad()(_epoch)(*a), "raised", ("RuntimeError", "torch.no_grad()")),
]  # fmt: skip


@pytest.mark.parametrize(ROW, rows(ONLINE_ANSWERS))
def test_check_online_epoch_table(answer, kind, words, solutions):
    assert_verdict(cu.check_online_epoch(answer_of(answer, solutions)), kind, words)


def test_online_epoch_solution_matches_online_descent_on_the_two_points(scratch, solutions):
    """The exercise's PyTorch epoch and the chapter's NumPy online updates take the same steps."""
    model = torch.nn.Linear(1, 1, dtype=torch.float64)
    torch.nn.init.zeros_(model.weight), torch.nn.init.zeros_(model.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    X, y = torch.tensor([[0.0], [1.0]], dtype=torch.float64), torch.tensor([[1.0], [3.0]], dtype=torch.float64)
    path = scratch["online_descent"](np.array([0.0, 1.0]), np.array([1.0, 3.0]), lr=0.1, num_epochs=3)
    for epoch in range(1, 4):
        solutions["online_epoch"](model, torch.nn.MSELoss(), optimizer, X, y)
        assert (model.weight.item(), model.bias.item()) == pytest.approx(tuple(path[2 * epoch]), abs=1e-12)


def test_normal_equations_solution_recovers_an_exact_linear_relation(solutions):
    """The reference solution recovers an exact linear relation, whatever the features' offsets."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 4)) + 10
    w, b = solutions["normal_equations"](X, X @ np.array([1.0, -2.0, 0.5, 0.0]) + 3.0)
    assert np.allclose(w, [1.0, -2.0, 0.5, 0.0]) and b == pytest.approx(3.0)


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


def test_descent_explorer_holds_one_path_per_rate_and_cuts_diverging_ones():
    x = np.linspace(-1, 1, 9)

    def bowl(wb):  # the mean squared error of y = 2x + 1 on x
        return np.mean((2 * x + 1 - (wb[..., 0, None] * x + wb[..., 1, None])) ** 2, axis=-1)

    def descend(lr, steps=20):
        path = [np.zeros(2)]
        for _ in range(steps):
            w, b = path[-1]
            error = 2 * x + 1 - (w * x + b)
            path.append(np.array([w + lr * 2 * np.mean(error * x), b + lr * 2 * np.mean(error)]))
        return np.array(path)

    rates = [0.5, 1.0, 1.5]
    figure = cu.descent_explorer({lr: descend(lr) for lr in rates}, bowl, (-1, 4, -1, 3), [0.1, 1], (2, 1), "Paths.")
    html_text = figure._repr_mimebundle_()["text/html"]
    spec = json.loads(re.search(r'class="course-explorable-spec">(.*?)</script>', html_text).group(1))
    rows = {row["r"]: row for row in spec["datasets"]["runs"]}
    assert sorted(rows) == rates and [p["name"] for p in spec["params"]] == ["lr"]
    assert len(rows[0.5]["s"]) == 21 and rows[0.5]["l"][-1] < 1e-3  # converged
    assert len(rows[1.5]["s"]) < 21 and max(rows[1.5]["l"]) < 1e4  # cut where it diverged
    np.testing.assert_allclose(rows[1.0]["l"], bowl(descend(1.0)), rtol=5e-3)  # 3 significant digits
    assert figure.svg.startswith("<svg") and "Paths." in html_text
