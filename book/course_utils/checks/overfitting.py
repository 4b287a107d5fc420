"""Self-checks for chapter 3, `overfitting`."""

import numpy as np

from . import CheckFailed, as_tensor, expect_close, self_check


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


@self_check("Exercise 3.1 (a train / validation / test split)")
def check_split(split_fn) -> None:
    """``split_fn(n, val_fraction, test_fraction, rng)`` returns shuffled, disjoint index arrays.

    Args:
        split_fn: function of an int ``n``, two floats and a `numpy.random.Generator`; returns
            ``(train_idx, val_idx, test_idx)``, 1-D integer arrays that together hold each of
            ``0 .. n-1`` exactly once, with ``int(val_fraction * n)`` and ``int(test_fraction * n)``
            validation and test indices.
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
        if not all(np.array_equal(a, np.asarray(b)) for a, b in zip((train, val, test), again)):
            raise CheckFailed(
                "two calls with identically seeded generators gave different splits.",
                "draw the permutation from the `rng` argument (rng.permutation(n)), not from "
                "np.random or a new generator.",
            )


def _cv_reference(x, y, degree, k):
    scores = []
    for fold in np.array_split(np.arange(len(x)), k):
        keep = np.setdiff1d(np.arange(len(x)), fold)
        coef = np.linalg.lstsq(x[keep, None] ** np.arange(degree + 1), y[keep], rcond=None)[0]
        scores.append(np.mean((x[fold, None] ** np.arange(degree + 1) @ coef - y[fold]) ** 2))
    return float(np.mean(scores))


@self_check("Exercise 3.2 (k-fold cross-validation)")
def check_cross_validation(cv_fn) -> None:
    """``cv_fn(x, y, degree, k)`` is the mean validation MSE of a polynomial fit over ``k`` folds.

    Args:
        cv_fn: function of NumPy arrays ``x``, ``y`` of shape (N,), an int ``degree`` and an int
            ``k``; the folds are ``np.array_split(np.arange(N), k)``; returns a float.
    """
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, size=23)
    y = 2 * x - 10 * x**5 + 15 * x**10 + 0.3 * rng.normal(size=23)
    for degree, k in [(1, 5), (3, 5), (5, 4), (2, 23)]:
        answer = as_tensor(cv_fn(x, y, degree, k), f"cross_val_mse(x, y, degree={degree}, k={k})", shape=())
        expected = _cv_reference(x, y, degree, k)
        hint = (
            "for each fold: fit on all the other points, compute the MSE on the fold's points, and "
            "average the k fold MSEs. Never fit on the points you evaluate on."
        )
        expect_close(answer, expected, f"cross_val_mse for degree={degree}, k={k}", hint, rtol=1e-6)


def _ridge_free_intercept_reference(X, y, lam):
    n, d = X.shape
    penalty = np.sqrt(n * lam) * np.eye(d)[1:]
    return np.linalg.lstsq(np.vstack([X, penalty]), np.concatenate([y, np.zeros(d - 1)]), rcond=None)[0]


@self_check("Exercise 3.3 (ridge with a free intercept)")
def check_ridge_free_intercept(ridge_fn) -> None:
    """``ridge_fn(X, y, lam)`` minimises ``mean((X @ w - y)**2) + lam * sum(w[1:]**2)``.

    Args:
        ridge_fn: function of a NumPy array ``X`` of shape (N, D) whose first column is all ones,
            ``y`` of shape (N,) and a float ``lam >= 0``; returns ``w`` of shape (D,).
    """
    rng = np.random.default_rng(4)
    for n, d, lam in [(30, 4, 0.1), (12, 6, 1e-3), (50, 3, 2.0), (20, 5, 0.0)]:
        X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, d - 1))])
        y = 5.0 + X[:, 1:] @ rng.normal(size=d - 1) + 0.1 * rng.normal(size=n)
        answer = as_tensor(ridge_fn(X, y, lam), f"the weights for N={n}, D={d}, lam={lam}", shape=(d,))
        hint = (
            "the penalty applies to w[1:] only, and the data term is a mean over the N examples: in the "
            "normal equations the penalty matrix is N * lam * I with its top-left entry set to 0."
        )
        expect_close(
            answer,
            _ridge_free_intercept_reference(X, y, lam),
            f"the weights for N={n}, D={d}, lam={lam}",
            hint,
            rtol=1e-5,
            atol=1e-7,
        )
