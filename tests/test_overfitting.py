"""Chapter 3 (`03_overfitting.ipynb`): polynomial features and fits against NumPy, ridge against
scikit-learn, and the self-checks."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

import course_utils as cu
from verdicts import ROW, Solution, answer_of, assert_verdict, rows

NOTEBOOK = "03_overfitting.ipynb"


@pytest.mark.parametrize("degree", [0, 1, 3, 7, 12])
def test_poly_features_match_np_vander(scratch, degree):
    x = np.random.default_rng(degree).uniform(-2, 2, size=17)
    np.testing.assert_allclose(
        scratch["poly_features"](x, degree), np.vander(x, degree + 1, increasing=True), rtol=1e-14
    )
    assert scratch["poly_features"](list(x), degree).shape == (17, degree + 1)  # lists work too


@pytest.mark.parametrize("degree", [0, 1, 2, 4, 6])
def test_fit_polynomial_matches_np_polyfit(scratch, degree):
    rng = np.random.default_rng(10 + degree)
    x, y = rng.uniform(-1, 1, size=25), rng.normal(size=25)
    w = scratch["fit_polynomial"](x, y, degree)
    np.testing.assert_allclose(w, np.polyfit(x, y, degree)[::-1], rtol=1e-8, atol=1e-10)
    x_new = rng.uniform(-1, 1, size=9)
    np.testing.assert_allclose(
        scratch["predict_polynomial"](w, x_new), np.polyval(np.polyfit(x, y, degree), x_new), rtol=1e-8, atol=1e-10
    )


def test_fit_polynomial_fits_many_columns_at_once(scratch):
    rng = np.random.default_rng(3)
    x, Y = np.linspace(0, 1, 11), rng.normal(size=(11, 4))
    W = scratch["fit_polynomial"](x, Y, 5)
    assert W.shape == (6, 4)
    for k in range(4):
        np.testing.assert_allclose(W[:, k], scratch["fit_polynomial"](x, Y[:, k], 5), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        scratch["mse"](Y, scratch["poly_features"](x, 5) @ W),
        [np.mean((Y[:, k] - scratch["poly_features"](x, 5) @ W[:, k]) ** 2) for k in range(4)],
    )


def test_degree_n_minus_1_interpolates(scratch):
    rng = np.random.default_rng(4)
    x, y = np.linspace(0, 1, 8), rng.normal(size=8)
    w = scratch["fit_polynomial"](x, y, 7)
    np.testing.assert_allclose(scratch["predict_polynomial"](w, x), y, atol=1e-8)


def test_legendre_features_span_the_same_polynomials(scratch):
    x = np.linspace(0, 1, 11)
    V = scratch["legendre_features"](x, 10)
    for k in range(11):
        np.testing.assert_allclose(V[:, k], np.polynomial.Legendre.basis(k)(2 * x - 1), atol=1e-12)
    y = np.random.default_rng(5).normal(size=11)
    grid = np.linspace(0, 1, 101)
    legendre_fit = (
        scratch["legendre_features"](grid, 6) @ np.linalg.lstsq(scratch["legendre_features"](x, 6), y, rcond=None)[0]
    )
    np.testing.assert_allclose(legendre_fit, np.polyval(np.polyfit(x, y, 6), grid), atol=1e-8)
    assert scratch["curvature_ratio"](V) < 1e4 < 1e12 < scratch["curvature_ratio"](scratch["poly_features"](x, 10))


@pytest.mark.parametrize("lam", [0.0, 1e-6, 0.01, 1.0])
def test_ridge_fit_matches_sklearn(scratch, lam):
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(30, 5)), rng.normal(size=30)
    w = scratch["ridge_fit"](X, y, lam)
    if lam == 0:
        expected = np.linalg.lstsq(X, y, rcond=None)[0]
    else:
        expected = Ridge(alpha=len(X) * lam, fit_intercept=False, solver="svd").fit(X, y).coef_
    np.testing.assert_allclose(w, expected, rtol=1e-7, atol=1e-10)
    Y = np.stack([y, 2 * y], axis=1)  # several targets at once
    np.testing.assert_allclose(scratch["ridge_fit"](X, Y, lam), np.stack([w, 2 * w], axis=1), rtol=1e-9, atol=1e-12)


def test_ridge_fit_minimises_the_penalised_loss(scratch):
    rng = np.random.default_rng(8)
    X, y, lam = rng.normal(size=(20, 4)), rng.normal(size=20), 0.3
    loss = lambda w: np.mean((X @ w - y) ** 2) + lam * np.sum(w**2)
    w = scratch["ridge_fit"](X, y, lam)
    for _ in range(20):
        assert loss(w) < loss(w + 1e-3 * rng.normal(size=4))


# ---- self-checks ----------------------------------------------------------------------------------


def _passes(result):
    assert isinstance(result, cu.checks.CheckResult)
    return result.passed


def test_check_split_accepts_the_solution(solutions):
    assert _passes(cu.check_split(solutions["split_indices"]))


def _split_unshuffled(n, val_fraction, test_fraction, rng):
    n_val, n_test = int(val_fraction * n), int(test_fraction * n)
    order = np.arange(n)
    return order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]


def _split_with_replacement(n, val_fraction, test_fraction, rng):
    n_val, n_test = int(val_fraction * n), int(test_fraction * n)
    draw = lambda size: rng.choice(n, size=size, replace=True)
    return draw(n - n_val - n_test), draw(n_val), draw(n_test)


def _split_rounded_up(n, val_fraction, test_fraction, rng):
    order = rng.permutation(n)
    n_val, n_test = int(np.ceil(val_fraction * n)), int(np.ceil(test_fraction * n))
    return order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]


def _split_ignores_rng(n, val_fraction, test_fraction, rng):
    return (
        _split_unshuffled(n, val_fraction, test_fraction, None)
        if n < 0
        else tuple(np.random.default_rng().permutation(n)[s] for s in _slices(n, val_fraction, test_fraction))
    )


def _slices(n, val_fraction, test_fraction):
    n_val, n_test = int(val_fraction * n), int(test_fraction * n)
    return slice(n_val + n_test, None), slice(0, n_val), slice(n_val, n_val + n_test)


@pytest.mark.parametrize("wrong", [_split_unshuffled, _split_with_replacement, _split_rounded_up, _split_ignores_rng])
def test_check_split_rejects_wrong_splits(wrong, capsys):
    assert not _passes(cu.check_split(wrong))
    out = capsys.readouterr().out
    assert "❌" in out and "Hint" in out


@pytest.mark.parametrize(
    "wrong_type",
    [
        lambda n, v, t, rng: rng.permutation(n),  # one array, not three
        lambda n, v, t, rng: (np.linspace(0, 1, n), np.array([]), np.array([])),  # floats, not indices
        lambda n, v, t, rng: None,
    ],
)
def test_check_split_fails_cleanly_on_wrong_types(wrong_type, capsys):
    assert not _passes(cu.check_split(wrong_type))
    assert "❌" in capsys.readouterr().out


def test_check_cross_validation_accepts_the_solution(solutions):
    assert _passes(cu.check_cross_validation(solutions["cross_val_mse"]))


def _cv_training_error(x, y, degree, k):
    w = np.polyfit(x, y, degree)
    return float(np.mean((np.polyval(w, x) - y) ** 2))


def _cv_fit_on_the_fold(x, y, degree, k):
    scores = []
    for fold in np.array_split(np.arange(len(x)), k):
        rest = np.setdiff1d(np.arange(len(x)), fold)
        w = np.polyfit(x[fold], y[fold], min(degree, len(fold) - 1))
        scores.append(np.mean((np.polyval(w, x[rest]) - y[rest]) ** 2))
    return float(np.mean(scores))


def _cv_includes_the_fold(x, y, degree, k):
    scores = []
    for fold in np.array_split(np.arange(len(x)), k):
        w = np.polyfit(x, y, degree)  # fitted on everything, the fold included
        scores.append(np.mean((np.polyval(w, x[fold]) - y[fold]) ** 2))
    return float(np.mean(scores))


def _cv_pooled(x, y, degree, k):  # the mean over all held-out examples, not over the k folds
    errors = []
    for fold in np.array_split(np.arange(len(x)), k):
        rest = np.setdiff1d(np.arange(len(x)), fold)
        errors.extend((np.polyval(np.polyfit(x[rest], y[rest], degree), x[fold]) - y[fold]) ** 2)
    return float(np.mean(errors))


@pytest.mark.parametrize("wrong", [_cv_training_error, _cv_fit_on_the_fold, _cv_includes_the_fold, _cv_pooled])
def test_check_cross_validation_rejects_wrong_procedures(wrong, capsys):
    assert not _passes(cu.check_cross_validation(wrong))
    assert "❌" in capsys.readouterr().out


def test_check_cross_validation_fails_cleanly_on_wrong_types(capsys):
    assert not _passes(cu.check_cross_validation(lambda x, y, degree, k: [0.1] * k))
    assert not _passes(cu.check_cross_validation(lambda x, y, degree, k: "small"))
    assert capsys.readouterr().out.count("❌") == 2


def test_check_ridge_free_intercept_accepts_the_solution(solutions):
    assert _passes(cu.check_ridge_free_intercept(solutions["ridge_free_intercept"]))


def _ridge_penalises_everything(X, y, lam):
    return np.linalg.solve(X.T @ X + len(X) * lam * np.eye(X.shape[1]), X.T @ y)


def _ridge_without_n(X, y, lam):
    penalty = lam * np.eye(X.shape[1])
    penalty[0, 0] = 0.0
    return np.linalg.solve(X.T @ X + penalty, X.T @ y)


def _ridge_ignores_lam(X, y, lam):
    return np.linalg.lstsq(X, y, rcond=None)[0]


@pytest.mark.parametrize("wrong", [_ridge_penalises_everything, _ridge_without_n, _ridge_ignores_lam])
def test_check_ridge_free_intercept_rejects_wrong_solutions(wrong, capsys):
    assert not _passes(cu.check_ridge_free_intercept(wrong))
    assert "❌" in capsys.readouterr().out


def test_check_ridge_free_intercept_fails_cleanly_on_wrong_shapes(solutions, capsys):
    assert not _passes(
        cu.check_ridge_free_intercept(lambda X, y, lam: solutions["ridge_free_intercept"](X, y, lam)[1:])
    )
    assert not _passes(cu.check_ridge_free_intercept(lambda X, y, lam: None))
    out = capsys.readouterr().out
    assert out.count("❌") == 2 and "shape" in out


# --- every check's table: the reference, plausible mistakes, in-place changes, junk --------------


def _split_with_global_rng(n, val_fraction, test_fraction, rng):
    order = np.random.permutation(n)  # not the generator it was given
    return tuple(order[s] for s in _slices(n, val_fraction, test_fraction))


def _split_fresh_seeded_generator(n, val_fraction, test_fraction, rng):
    order = np.random.default_rng(0).permutation(n)  # reproducible, but the caller's seed has no say
    return tuple(order[s] for s in _slices(n, val_fraction, test_fraction))


def _split_seeds_the_global_generator(n, val_fraction, test_fraction, rng):
    np.random.seed(42)
    order = np.random.permutation(n)
    return tuple(order[s] for s in _slices(n, val_fraction, test_fraction))


def _split_shuffles_in_place(n, val_fraction, test_fraction, rng):
    order = np.arange(n)
    rng.shuffle(order)
    return tuple(order[s] for s in _slices(n, val_fraction, test_fraction))


def _split_by_choice_sorted(n, val_fraction, test_fraction, rng):  # sorted sets are as good
    order = rng.choice(n, size=n, replace=False)
    return tuple(np.sort(order[s]) for s in _slices(n, val_fraction, test_fraction))


def _split_with_a_child_generator(n, val_fraction, test_fraction, rng):  # seeded from rng: still rng's split
    order = np.random.default_rng(rng.integers(2**32)).permutation(n)
    return tuple(order[s] for s in _slices(n, val_fraction, test_fraction))


SPLIT_ANSWERS = [
    ("reference", Solution("split_indices"), "passed", ()),
    ("rng.shuffle", _split_shuffles_in_place, "passed", ()),
    ("rng.choice, each set sorted", _split_by_choice_sorted, "passed", ()),
    ("a generator seeded from rng", _split_with_a_child_generator, "passed", ()),
    ("a fresh default_rng(0)", _split_fresh_seeded_generator, "wrong", ("ignores the `rng`", "np.random")),
    ("np.random.seed(42) first", _split_seeds_the_global_generator, "wrong", ("ignores the `rng`",)),
    ("unshuffled", _split_unshuffled, "wrong", ("shuffle",)),
    ("with replacement", _split_with_replacement, "wrong", ("exactly once",)),
    ("rounded up", _split_rounded_up, "wrong", ("int(val_fraction * n)",)),
    ("a new generator per set", _split_ignores_rng, "wrong", ("exactly once",)),
    ("the global generator", _split_with_global_rng, "wrong", ("rng.permutation(n)",)),
    ("tensors", lambda *a: [torch.as_tensor(i) for i in _split_from_rng(*a)], "passed", ()),
    ("one array", lambda n, v, t, rng: rng.permutation(n), "wrong", ("three index arrays",)),
    ("float indices", lambda *a: [i.astype(float) for i in _split_from_rng(*a)], "wrong", ("integer indices",)),
    ("crashes", lambda n, v, t, rng: rng.permutation(n)[: int(v)] + [0, 1], "raised", ("ValueError",)),
]


def _split_from_rng(n, val_fraction, test_fraction, rng):
    order = rng.permutation(n)
    return tuple(order[s] for s in _slices(n, val_fraction, test_fraction))


@pytest.mark.parametrize(ROW, rows(SPLIT_ANSWERS))
def test_check_split_table(answer, kind, words, solutions):
    assert_verdict(cu.check_split(answer_of(answer, solutions)), kind, words)


def _cv_with_powers(x, y, degree, k, powers):
    scores = []
    for fold in np.array_split(np.arange(len(x)), k):
        rest = np.setdiff1d(np.arange(len(x)), fold)
        w = np.linalg.lstsq(x[rest, None] ** powers, y[rest], rcond=None)[0]
        scores.append(np.mean((x[fold, None] ** powers @ w - y[fold]) ** 2))
    return float(np.mean(scores))


def _cv_with_vander(x, y, degree, k):  # np.vander(x, degree) has `degree` columns: one short
    return _cv_with_powers(x, y, degree, k, np.arange(degree))


def _cv_shuffles_in_place(x, y, degree, k):
    order = np.random.default_rng(0).permutation(len(x))
    x[:], y[:] = x[order], y[order]
    return _cv_with_powers(x, y, degree, k, np.arange(degree + 1))


def _cv_standardises_in_place(x, y, degree, k):  # a polynomial in (x - m) / s spans the same fits
    x -= x.mean()
    x /= x.std()
    return _cv_with_powers(x, y, degree, k, np.arange(degree + 1))


CV_ANSWERS = [
    ("reference", Solution("cross_val_mse"), "passed", ()),
    ("the training error", _cv_training_error, "wrong", ("Never fit on the points you evaluate on",)),
    ("fit on the fold", _cv_fit_on_the_fold, "wrong", ("fit on all the other points",)),
    ("the fold in the fit", _cv_includes_the_fold, "wrong", ("Never fit on the points you evaluate on",)),
    ("pooled, not per fold", _cv_pooled, "wrong", ("one number per fold",)),
    ("degree one short (np.vander)", _cv_with_vander, "wrong", ("wrong degree",)),
    ("degree one more", lambda x, y, d, k: _cv_with_powers(x, y, d, k, np.arange(d + 2)), "wrong", ("wrong degree",)),
    ("no constant column", lambda x, y, d, k: _cv_with_powers(x, y, d, k, np.arange(1, d + 1)), "wrong", ("constant",)),
    ("shuffles x and y in place", _cv_shuffles_in_place, "wrong", ("`x` and `y`", "in place")),
    ("standardises x in place", _cv_standardises_in_place, "changed-input", ("`x`", "x.copy()")),
    ("a list", lambda x, y, degree, k: [0.1] * k, "wrong", ("shape",)),
    ("crashes", lambda x, y, degree, k: np.split(x, k), "raised", ("ValueError", "cross_val_mse(x, y, degree, k)")),
]


@pytest.mark.parametrize(ROW, rows(CV_ANSWERS))
def test_check_cross_validation_table(answer, kind, words, solutions):
    assert_verdict(cu.check_cross_validation(answer_of(answer, solutions)), kind, words)


def _ridge_penalises_the_last(X, y, lam):
    penalty = len(X) * lam * np.eye(X.shape[1])
    penalty[-1, -1] = 0.0
    return np.linalg.solve(X.T @ X + penalty, X.T @ y)


def _ridge_centres_y_in_place(X, y, lam):
    y -= y.mean()
    return _ridge_penalises_everything(X, y, lam)


def _ridge_then_clears_X(X, y, lam):
    penalty = len(X) * lam * np.eye(X.shape[1])
    penalty[0, 0] = 0.0
    w = np.linalg.solve(X.T @ X + penalty, X.T @ y)
    X[:, 1:] = 0.0
    return w


RIDGE_ANSWERS = [
    ("reference", Solution("ridge_free_intercept"), "passed", ()),
    ("penalises the intercept", _ridge_penalises_everything, "wrong", ("w[1:] only",)),
    ("lam, not N * lam", _ridge_without_n, "wrong", ("N * lam",)),
    ("ignores lam", _ridge_ignores_lam, "wrong", ("do not depend on lam",)),
    ("frees the last weight", _ridge_penalises_the_last, "wrong", ("w[0]",)),
    ("centres y in place", _ridge_centres_y_in_place, "wrong", ("`y`", "in place")),
    ("clears X afterwards", _ridge_then_clears_X, "changed-input", ("`X`",)),
    ("one weight short", lambda X, y, lam: _ridge_ignores_lam(X, y, lam)[1:], "wrong", ("shape", "one weight per")),
    ("None", lambda X, y, lam: None, "wrong", ("got None",)),
    ("crashes", lambda X, y, lam: np.linalg.solve(X, y), "raised", ("LinAlgError", "ridge_free_intercept(X, y, lam)")),
]


@pytest.mark.parametrize(ROW, rows(RIDGE_ANSWERS))
def test_check_ridge_free_intercept_table(answer, kind, words, solutions):
    assert_verdict(cu.check_ridge_free_intercept(answer_of(answer, solutions)), kind, words)


# --- the explorable figure of degree and training-set size ----------------------------------------


def test_fit_explorer_carries_the_chapters_fits_and_errors(scratch):
    rng = np.random.default_rng(7)
    truth = lambda x: 2 * x - 10 * x**5 + 15 * x**10
    train_sets = {}
    for n in (11, 16, 21):
        x = np.linspace(0, 1, n)
        train_sets[n] = (x, truth(x) + 0.3 * rng.normal(size=n))
    x_test = rng.uniform(0, 1, size=50)
    y_test = truth(x_test) + 0.3 * rng.normal(size=50)
    x_grid = np.linspace(0, 1, 41)
    fit, predict = scratch["fit_polynomial"], scratch["predict_polynomial"]
    figure = cu.fit_explorer(train_sets, (x_test, y_test), x_grid, truth(x_grid), fit, predict, range(11), "Fits.")
    data = figure.spec["datasets"]
    curves = {(r["n"], r["d"]): r["y"] for r in data["curves"]}
    errors = {(r["n"], r["d"]): r for r in data["errors"]}
    assert set(curves) == set(errors) == {(n, d) for n in train_sets for d in range(11)}
    for (n, d), drawn in curves.items():
        x, y = train_sets[n]
        w = fit(x, y, d)  # the chapter's own fit, which the figure must show (3 significant digits)
        np.testing.assert_allclose(drawn, predict(w, x_grid), rtol=5e-3, atol=1e-12)
        np.testing.assert_allclose(drawn, np.polyval(np.polyfit(x, y, d), x_grid), rtol=5e-3, atol=1e-6)
        train_mse = np.mean((predict(w, x) - y) ** 2)
        np.testing.assert_allclose(errors[n, d]["train"], max(train_mse, 1e-4), rtol=5e-3)
        np.testing.assert_allclose(errors[n, d]["test"], np.mean((predict(w, x_test) - y_test) ** 2), rtol=5e-3)
    assert errors[11, 10]["train"] == 1e-4  # 11 points, 11 weights: an exact fit, drawn at the floor
    assert {r["n"]: len(r["x"]) for r in data["points"]} == {11: 11, 16: 16, 21: 21}
    params = {p["name"]: p for p in figure.spec["params"]}
    assert params["degree"]["bind"] | {"name": ""} == {"input": "range", "min": 0, "max": 10, "step": 1, "name": ""}
    assert (params["size"]["bind"]["min"], params["size"]["bind"]["max"], params["size"]["bind"]["step"]) == (11, 21, 5)


def test_chapter_3_has_quizzes_on_its_misconceptions():
    from course_utils import quizzes

    questions = [q for quiz in quizzes.load_quizzes("03_overfitting").values() for q in quiz]
    assert len(questions) >= 3
    assert all(any(not a.get("correct", False) for a in q["answers"]) for q in questions)  # wrong answers explained
