"""Self-checks for the exercises: a friendly verdict and a hint, never a traceback.

Each chapter's checks live in a module of this package named after the chapter. A check returns a
`CheckResult` and prints its verdict; it never reveals the reference answer. When the environment
variable ``COURSE_CHECK_LOG`` names a file, every result is also appended to it as one JSON line,
which is how the grader collects the results of a whole notebook. When ``COURSE_CHECK_STRICT`` is
set (to anything but ``0`` or an empty string), a failed check also raises `AssertionError` after
printing its verdict, so that a self-check cell works as an nbgrader autograder test.
"""

import functools
import json
import os
from dataclasses import asdict, dataclass

import torch

LOG_ENV_VAR = "COURSE_CHECK_LOG"
STRICT_ENV_VAR = "COURSE_CHECK_STRICT"


@dataclass
class CheckResult:
    """The outcome of one self-check."""

    name: str
    passed: bool
    message: str
    hint: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = f"✅ {self.name}: {self.message}" if self.passed else f"❌ {self.name}: {self.message}"
        return verdict + (f"\n   Hint: {self.hint}" if self.hint and not self.passed else "")

    def _ipython_display_(self) -> None:
        """Show nothing when a check is a cell's last line: the verdict was already printed."""


class CheckFailed(Exception):
    """Raised inside a check to fail it with a message (and an optional hint)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def self_check(name: str, success: str = "correct, well done!"):
    """Turn a function that raises `CheckFailed` (or any error) into a friendly self-check.

    The wrapped function returns nothing when the answer is right. Any other exception, such as
    one raised inside the student's own code, is reported as a failed check, not a traceback.
    The check's display name is kept on the wrapper as ``check_name`` (the grader reads it).
    """

    def decorate(check):
        @functools.wraps(check)
        def wrapper(*args, **kwargs) -> CheckResult:
            try:
                check(*args, **kwargs)
                result = CheckResult(name, True, success)
            except CheckFailed as failure:
                result = CheckResult(name, False, failure.message, failure.hint)
            except NotImplementedError:
                result = CheckResult(name, False, "not attempted yet: replace the `raise NotImplementedError` line.")
            except Exception as error:  # the student's code crashed: say how, without a traceback
                result = CheckResult(
                    name,
                    False,
                    f"your code raised {type(error).__name__}: {error}",
                    "run your function on a small example and read the error.",
                )
            _report(result)
            return result

        wrapper.check_name = name
        return wrapper

    return decorate


def _report(result: CheckResult) -> None:
    print(result)
    if os.environ.get(LOG_ENV_VAR):
        with open(os.environ[LOG_ENV_VAR], "a", encoding="utf-8") as log:
            log.write(json.dumps(asdict(result)) + "\n")
    if not result.passed and os.environ.get(STRICT_ENV_VAR, "") not in ("", "0"):
        raise AssertionError(str(result))


def as_tensor(value, what: str, shape=None) -> torch.Tensor:
    """``value`` as a float64 tensor, or `CheckFailed` naming the expected type and shape."""
    try:
        tensor = torch.as_tensor(value).detach().to(torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise CheckFailed(f"{what} should be a number, array or tensor, got {type(value).__name__}.") from None
    if shape is not None and tuple(tensor.shape) != tuple(shape):
        raise CheckFailed(f"{what} should have shape {tuple(shape)}, got {tuple(tensor.shape)}.")
    return tensor


def expect_close(actual, expected, what: str, hint: str = "", rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Fail with a message (not the answer) unless ``actual`` matches ``expected``."""
    expected = torch.as_tensor(expected, dtype=torch.float64)
    actual = as_tensor(actual, what, expected.shape)
    if not torch.allclose(actual, expected, rtol=rtol, atol=atol):
        raise CheckFailed(
            f"{what} is not right yet (largest error {(actual - expected).abs().max().item():.3g}).", hint
        )
