"""Self-checks for chapter 3, `overfitting`."""

from collections.abc import Callable

import numpy as np

from . import CheckFailed, as_tensor, close, self_check


def _as_index_array(value, what: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception:
        raise CheckFailed(f"{what} should be an array of indices, got {type(value).__name__}.") from None
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise CheckFailed(
            f"{what} should be a 1-D array of integer indices, got dtype {array.dtype} and shape {array.shape}."
        )
    return array


def _is_block(indices: np.ndarray) -> bool:
    """True if ``indices`` are consecutive integers (in any order): what an unshuffled split gives."""
    return len(indices) < 2 or np.array_equal(np.sort(indices), np.arange(indices.min(), indices.min() + len(indices)))


@self_check(
    "Exercise 3.1 (a train / validation / test split)",
    usage="cu.check_split(split_indices)",
    answer="function",
    call="split_indices(n, val_fraction, test_fraction, rng)",
    may_change=("rng",),
)
def check_split(split_fn: Callable) -> None:
    """``split_fn(n, val_fraction, test_fraction, rng)`` returns shuffled, disjoint index arrays.

    Args:
        split_fn: function of an int ``n``, two floats and a `numpy.random.Generator`; returns
            ``(train_idx, val_idx, test_idx)``, 1-D integer arrays that together hold each of
            ``0 .. n-1`` exactly once, with ``int(val_fraction * n)`` and ``int(test_fraction * n)``
            validation and test indices, shuffled by ``rng``: the same seed gives the same split,
            another seed another split.
    """
    for n, val_fraction, test_fraction in [(100, 0.2, 0.2), (37, 0.25, 0.1), (10, 0.5, 0.2)]:
        answer = split_fn(n, val_fraction, test_fraction, np.random.default_rng(0))
        if not isinstance(answer, (tuple, list)) or len(answer) != 3:
            raise CheckFailed(f"return three index arrays (train_idx, val_idx, test_idx); got {type(answer).__name__}.")
        train, val, test = (_as_index_array(a, name) for a, name in zip(answer, ["train_idx", "val_idx", "test_idx"]))
        sizes = (len(train), len(val), len(test))
        n_val, n_test = int(val_fraction * n), int(test_fraction * n)
        if sizes != (n - n_val - n_test, n_val, n_test):
            raise CheckFailed(
                f"for n={n}, val_fraction={val_fraction}, test_fraction={test_fraction} the sizes "
                f"(train, val, test) are {sizes}.",
                "the validation set has int(val_fraction * n) indices, the test set "
                "int(test_fraction * n), the training set the rest.",
            )
        together = np.concatenate([train, val, test])
        if not np.array_equal(np.sort(together), np.arange(n)):
            raise CheckFailed(
                f"for n={n}, the three sets do not hold each index 0..n-1 exactly once.",
                "shuffle all n indices once (a permutation), then cut the shuffled array into "
                "three pieces, so that no example lands in two sets.",
            )
        if all(_is_block(part) for part in (train, val, test)):
            raise CheckFailed(
                f"for n={n}, each set is a block of consecutive indices: the data was not shuffled.",
                "shuffle before cutting: data files are often sorted (by date, by class), and "
                "an unshuffled split would give sets that differ systematically.",
            )
        again = split_fn(n, val_fraction, test_fraction, np.random.default_rng(0))
        same = isinstance(again, (tuple, list)) and len(again) == 3
        if not same or not all(np.array_equal(a, np.asarray(b)) for a, b in zip((train, val, test), again)):
            raise CheckFailed(
                "two calls with identically seeded generators gave different splits.",
                "draw the permutation from the `rng` argument (rng.permutation(n)), not from "
                "np.random or a new generator.",
            )
        other_seed = split_fn(n, val_fraction, test_fraction, np.random.default_rng(1)) if n == 100 else None
        if other_seed is not None and _same_sets((train, val, test), other_seed):
            raise CheckFailed(
                "generators with different seeds gave the same split: it ignores the `rng` it is given.",
                "shuffle with the `rng` argument, not with np.random or a generator of your own "
                "(such as np.random.default_rng(0)): the caller's generator must decide the split, "
                "so that a new seed gives a new split.",
            )


def _same_sets(first, second) -> bool:
    """Whether two answers hold the same three sets of indices (in any order within a set)."""
    if not isinstance(second, (tuple, list)) or len(second) != 3:
        return False
    return all(np.array_equal(np.sort(np.asarray(a)), np.sort(np.asarray(b))) for a, b in zip(first, second))


def _cv_reference(x: np.ndarray, y: np.ndarray, degree: int, k: int, powers=None, pooled: bool = False) -> float:
    """The k-fold validation MSE of polynomial fits with features ``x**p`` for p in ``powers``.

    By default ``powers`` is 0 .. degree and the fold MSEs are averaged; the other settings give
    the values of classic mistakes.
    """
    powers = np.arange(degree + 1) if powers is None else powers
    scores, sizes = [], []
    for fold in np.array_split(np.arange(len(x)), k):
        keep = np.setdiff1d(np.arange(len(x)), fold)
        coef = np.linalg.lstsq(x[keep, None] ** powers, y[keep], rcond=None)[0]
        scores.append(np.mean((x[fold, None] ** powers @ coef - y[fold]) ** 2))
        sizes.append(len(fold))
    return float(np.average(scores, weights=sizes if pooled else None))


def _cv_hint(answer: float, x: np.ndarray, y: np.ndarray, degree: int, k: int) -> str:
    """A hint naming the mistake when ``answer`` is what a classic wrong procedure gives."""
    wrong_degree = "the polynomial has the wrong degree: a degree-d fit has d + 1 coefficients, for x**0 to x**d."
    mistakes = [
        (wrong_degree, _cv_reference(x, y, degree, k, np.arange(degree))),
        (wrong_degree, _cv_reference(x, y, degree, k, np.arange(degree + 2))),
        (
            "the constant column x**0 (the intercept) is missing from the features.",
            _cv_reference(x, y, degree, k, np.arange(1, degree + 1)),
        ),
        (
            "average the k fold MSEs (one number per fold), not the squared errors of all points together: "
            "the folds differ in size here.",
            _cv_reference(x, y, degree, k, pooled=True),
        ),
    ]
    for hint, value in mistakes:
        if close(answer, value):
            return hint
    return (
        "for each fold: fit on all the other points, compute the MSE on the fold's points, and "
        "average the k fold MSEs. Never fit on the points you evaluate on."
    )


@self_check(
    "Exercise 3.2 (k-fold cross-validation)",
    usage="cu.check_cross_validation(cross_val_mse)",
    answer="function",
    call="cross_val_mse(x, y, degree, k)",
)
def check_cross_validation(cv_fn: Callable) -> None:
    """``cv_fn(x, y, degree, k)`` is the mean validation MSE of a polynomial fit over ``k`` folds.

    Args:
        cv_fn: function of NumPy arrays ``x``, ``y`` of shape (N,), an int ``degree`` and an int
            ``k``; the folds are ``np.array_split(np.arange(N), k)``; returns a float.
    """
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, size=23)
    y = 2 * x - 10 * x**5 + 15 * x**10 + 0.3 * rng.normal(size=23)
    for degree, k in [(1, 5), (3, 5), (5, 4), (2, 23)]:
        answer = as_tensor(cv_fn(x, y, degree, k), f"cross_val_mse(x, y, degree={degree}, k={k})", shape=()).item()
        if not close(answer, _cv_reference(x, y, degree, k), rtol=1e-6, atol=1e-6):
            raise CheckFailed(
                f"cross_val_mse for degree={degree}, k={k} is not right yet.", _cv_hint(answer, x, y, degree, k)
            )


def _ridge_reference(X: np.ndarray, y: np.ndarray, lam: float, free=(0,), scale=None) -> np.ndarray:
    """Minimise ``|X w - y|**2 / N + lam * sum(w[j]**2, j not in free)``; ``scale`` replaces the N that
    multiplies ``lam`` in the normal equations (a classic mistake)."""
    n, d = X.shape
    penalised = np.delete(np.eye(d), list(free), axis=0)
    rows = np.sqrt((n if scale is None else scale) * lam) * penalised
    return np.linalg.lstsq(np.vstack([X, rows]), np.concatenate([y, np.zeros(len(rows))]), rcond=None)[0]


def _ridge_hint(answer, X: np.ndarray, y: np.ndarray, lam: float) -> str:
    """A hint naming the mistake when ``answer`` is what a classic wrong formula gives."""
    mistakes = [
        ("the weights do not depend on lam: add the penalty.", _ridge_reference(X, y, 0.0)),
        ("the intercept is penalised too: the penalty applies to w[1:] only.", _ridge_reference(X, y, lam, free=())),
        (
            "the intercept is w[0], the weight of the first column (the ones): penalise w[1:], not w[:-1].",
            _ridge_reference(X, y, lam, free=(X.shape[1] - 1,)),
        ),
        (
            "the data term is a mean over the N examples: in the normal equations the penalty is N * lam, not lam.",
            _ridge_reference(X, y, lam, scale=1),
        ),
    ]
    for hint, value in mistakes:
        if close(answer, value, rtol=1e-5, atol=1e-7):
            return hint
    return (
        "the penalty applies to w[1:] only, and the data term is a mean over the N examples: in the "
        "normal equations the penalty matrix is N * lam * I with its top-left entry set to 0."
    )


@self_check(
    "Exercise 3.3 (ridge with a free intercept)",
    usage="cu.check_ridge_free_intercept(ridge_free_intercept)",
    answer="function",
    call="ridge_free_intercept(X, y, lam)",
)
def check_ridge_free_intercept(ridge_fn: Callable) -> None:
    """``ridge_fn(X, y, lam)`` minimises ``mean((X @ w - y)**2) + lam * sum(w[1:]**2)``.

    Args:
        ridge_fn: function of a NumPy array ``X`` of shape (N, D + 1) whose first column is all
            ones (the chapter's X-tilde), ``y`` of shape (N,) and a float ``lam >= 0``; returns
            ``w`` of shape (D + 1,).
    """
    rng = np.random.default_rng(4)
    for n, d, lam in [(30, 4, 0.1), (12, 6, 1e-3), (50, 3, 2.0), (20, 5, 0.0)]:
        X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, d - 1))])
        y = 5.0 + X[:, 1:] @ rng.normal(size=d - 1) + 0.1 * rng.normal(size=n)
        what = f"the weights for X of shape ({n}, {d}) and lam={lam}"
        answer = as_tensor(ridge_fn(X, y, lam), what, shape=(d,), hint="return one weight per column of X.")
        if not close(answer, _ridge_reference(X, y, lam), rtol=1e-5, atol=1e-7):
            raise CheckFailed(f"{what} are not right yet.", _ridge_hint(answer, X, y, lam))
