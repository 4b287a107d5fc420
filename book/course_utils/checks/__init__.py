"""Self-checks for the exercises: a friendly verdict and a hint, never a traceback.

Each chapter's checks live in a module of this package named after the chapter. A check returns a
`CheckResult` and prints its verdict; it never reveals the reference answer. When the environment
variable ``COURSE_CHECK_LOG`` names a file, every result is also appended to it as one JSON line,
which is how the grader (``python -m tools.grade``) collects the results of a whole notebook.

Every check is written with the `self_check` decorator, which enforces three rules in one place:

- **Copies.** The learner's function (or model), declared with ``answer=`` and ``call=``, reaches
  the check wrapped, so that each call hands it deep copies of its arguments: a check computes its
  reference from its own, pristine data, and the verdict says so when the function changed an
  argument in place (other than those in ``may_change``, which the exercise asks it to change).
  The check's own arguments are deep-copied on entry, so a check never changes the caller's objects.
- **State.** A check leaves global state as it found it: the random generators of Python, NumPy
  and PyTorch (CPU and CUDA), the default dtype, grad mode, the number of threads, NumPy's error
  handling, and PyTorch's determinism, anomaly, cuDNN and matmul-precision settings. Inside, a
  check runs with grad mode on and float32 as the default dtype, whatever the caller set.
- **Blame.** The verdict's ``kind`` says what happened: ``passed``; ``wrong`` (with a hint at the
  mistake); ``changed-input`` (right values, but an argument was changed in place);
  ``not-attempted``; ``raised`` (the learner's code raised); ``misuse`` (the check was called the
  wrong way); ``environment`` (a setting such as ``COURSE_DEVICE`` or a missing file stopped it);
  ``internal`` (the check itself failed: our bug, never blamed on the learner).
"""

import copy
import functools
import inspect
import json
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..repro import CourseEnvironmentError

LOG_ENV_VAR = "COURSE_CHECK_LOG"


@dataclass
class CheckResult:
    """The outcome of one self-check.

    Attributes:
        name: the check's display name, e.g. ``"Exercise 1.1 (...)"``.
        passed: whether the answer is accepted.
        message: the verdict, which never reveals the reference answer.
        hint: what to try next (shown only when the check fails).
        kind: ``passed``, ``wrong``, ``changed-input``, ``not-attempted``, ``raised``, ``misuse``,
            ``environment`` or ``internal`` (see the module's docstring).
    """

    name: str
    passed: bool
    message: str
    hint: str = ""
    kind: str = ""

    def __post_init__(self) -> None:
        self.kind = self.kind or ("passed" if self.passed else "wrong")

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = f"✅ {self.name}: {self.message}" if self.passed else f"❌ {self.name}: {self.message}"
        return verdict + (f"\n   Hint: {self.hint}" if self.hint and not self.passed else "")

    def _ipython_display_(self) -> None:
        """Show nothing when a check is a cell's last line: the verdict was already printed."""


class CheckFailed(Exception):
    """Raised inside a check to fail it with a message (and an optional hint): a wrong answer."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


class CheckMisused(Exception):
    """Raised inside a check that was called the wrong way (an argument that is not the answer)."""


@dataclass(frozen=True)
class _Answer:
    """What a check's first argument is (see `self_check`)."""

    kind: str = "value"
    call: str = ""
    may_change: tuple[str, ...] = ()


class _LearnerRaised(Exception):
    """The learner's code raised ``error`` when called as described by ``call``."""

    def __init__(self, error: Exception, call: str) -> None:
        super().__init__(str(error))
        self.error, self.call = error, call


def self_check(
    name: str,
    success: str = "correct, well done!",
    *,
    usage: str | None = None,
    answer: str = "value",
    call: str = "",
    may_change: tuple[str, ...] = (),
) -> Callable:
    """Turn a function that raises `CheckFailed` into a friendly self-check that obeys the rules above.

    The wrapped check returns nothing when the answer is right. Its display name is kept on the
    wrapper as ``check_name`` (the grader reads it), and how to call it as ``usage``.

    Args:
        name: the display name, ``"Exercise 1.1 (title)"``.
        success: the message for a right answer.
        usage: how a notebook calls the check, e.g. ``"cu.check_gradients(mse_gradients)"``;
            misuse messages quote it.
        answer: what the check's first argument is: ``"value"`` (a number, a shape: used as is),
            ``"function"`` (the learner's function, called through a guard that copies its
            arguments) or ``"model"`` (an `nn.Module`, whose forward calls are guarded likewise).
        call: for a function or model, how it is called, with the exercise's argument names:
            ``"mse_gradients(x, y, w, b)"``; messages name the arguments so.
        may_change: arguments the function is meant to change in place (``theta``): they are
            handed over as they are and not reported.
    """

    def decorate(check: Callable) -> Callable:
        signature = inspect.signature(check)
        how = usage or f"cu.{check.__name__}({', '.join(signature.parameters)})"
        spec = _Answer(answer, call, tuple(may_change))

        @functools.wraps(check)
        def wrapper(*args, **kwargs) -> CheckResult:
            with _caller_state_kept():
                guard = None
                try:
                    guard, arguments = _prepare(signature, spec, args, kwargs)
                    check(**arguments)
                except CheckFailed as failure:
                    result = _wrong_answer(name, failure, guard)
                except Exception as error:
                    result = _verdict_for_error(name, error, how)
                else:
                    result = _right_answer(name, success, guard)
            _report(result)
            return result

        wrapper.check_name, wrapper.usage = name, how
        return wrapper

    return decorate


def _prepare(signature: inspect.Signature, spec: _Answer, args: tuple, kwargs: dict) -> tuple:
    """``(guard, arguments)``: copies of the check's arguments, its answer guarded (or `CheckMisused`)."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        raise CheckMisused(str(error)) from None
    bound.apply_defaults()
    arguments = {key: _copy(value) for key, value in bound.arguments.items()}
    if spec.kind == "value":
        return None, arguments
    first = next(iter(arguments))
    guard, arguments[first] = _guarded_answer(arguments[first], spec)
    return guard, arguments


def _wrong_answer(name: str, failure: CheckFailed, guard: "_Guard | None") -> CheckResult:
    note = f" Also, {_changed_sentence(guard)}: {_copy_hint(guard)}" if guard and guard.changed else ""
    return CheckResult(name, False, failure.message, (failure.hint + note).strip(), "wrong")


def _right_answer(name: str, success: str, guard: "_Guard | None") -> CheckResult:
    if guard and guard.changed:
        message = f"your results are right, but {_changed_sentence(guard)}."
        return CheckResult(name, False, message, _copy_hint(guard), "changed-input")
    return CheckResult(name, True, success, kind="passed")


def _verdict_for_error(name: str, error: Exception, how: str) -> CheckResult:
    """The verdict for an exception that is not a wrong answer: whose it is decides the message."""
    if isinstance(error, CheckMisused):
        return CheckResult(name, False, f"the check was called the wrong way: {error}", f"call it as {how}.", "misuse")
    if isinstance(error, CourseEnvironmentError):
        hint = "this is about the environment (a setting or a file), not your answer: fix it, then run the cell again."
        return CheckResult(name, False, f"the check could not run: {error}", hint, "environment")
    if isinstance(error, _LearnerRaised):
        return _learner_raised(name, error)
    return CheckResult(
        name,
        False,
        f"the check itself failed, which is a bug in the course, not in your answer: {type(error).__name__}: {error}",
        "please report this message to the course's authors; your answer may well be right.",
        "internal",
    )


def _learner_raised(name: str, raised: _LearnerRaised) -> CheckResult:
    """The verdict when the learner's code raised: a stub is "not attempted", anything else is shown."""
    error = raised.error
    if isinstance(error, NotImplementedError) and (not error.args or str(error).startswith("Exercise")):
        message = "not attempted yet: replace the `raise NotImplementedError` line."
        return CheckResult(name, False, message, kind="not-attempted")
    first_line = (str(error).strip().splitlines() or [""])[0]
    hint = f"it raised when called as {raised.call}. {_error_hint(first_line)}"
    return CheckResult(name, False, f"your code raised {type(error).__name__}: {first_line}", hint, "raised")


_ERROR_HINTS = {
    "does not require grad": "The loss must carry gradients for backward(): compute it outside torch.no_grad(), "
    "and not from .detach()ed tensors or .item() numbers.",
    "shape": "The shapes do not fit: print the .shape of every array or tensor, step by step.",
    "broadcast": "The shapes do not fit: print the .shape of every array or tensor, step by step.",
}


def _error_hint(text: str) -> str:
    for key, hint in _ERROR_HINTS.items():
        if key in text:
            return hint
    return "Run it yourself on a small example like that and read the error."


def _report(result: CheckResult) -> None:
    print(result)
    if os.environ.get(LOG_ENV_VAR):
        with open(os.environ[LOG_ENV_VAR], "a", encoding="utf-8") as log:
            log.write(json.dumps(asdict(result)) + "\n")


# --- Copies: the learner's code never touches the check's data ------------------------------------


class _Guard:
    """The learner's function as a check sees it: every call gets deep copies of the arguments.

    Arguments changed in place (other than those in ``may_change``) are recorded in ``changed``;
    an exception is re-raised as `_LearnerRaised`; tensors in the result come back on the CPU
    (unless ``to_cpu`` is False), so an answer computed on a GPU is accepted.
    """

    def __init__(self, function: Callable, call: str, may_change=(), to_cpu: bool = True, what: str = "function"):
        self.function, self.to_cpu, self.what = function, to_cpu, what
        self.label, _, names = call.partition("(")
        self.names = [n.strip() for n in names.rstrip(")").split(",") if n.strip()]
        self.may_change, self.changed, self.originals = set(may_change), [], {}

    def __call__(self, *args, **kwargs):
        names = [self.names[i] if i < len(self.names) else f"argument {i + 1}" for i in range(len(args))]
        originals = dict(zip(names, args)) | kwargs
        given = {k: v if k in self.may_change else _copy(v) for k, v in originals.items()}
        conditions = _conditions()
        try:
            result = self.function(*[given[k] for k in names], **{k: given[k] for k in kwargs})
        except CourseEnvironmentError:
            raise
        except Exception as error:
            raise _LearnerRaised(error, self.describe(originals)) from error
        finally:
            _set_conditions(conditions)  # the learner's code may have turned grad mode off, say
        for key in given:
            if key not in self.may_change and key not in self.changed and not _same(given[key], originals[key]):
                self.changed.append(key)
                self.originals[key] = originals[key]
        return _to_cpu(result) if self.to_cpu else result

    def describe(self, arguments: dict) -> str:
        """``f(x, y)`` with x: float64 array of shape (5,), ...: what the learner's code was given."""
        return f"{self.label}({', '.join(arguments)}) with " + ", ".join(
            _describe(name, value) for name, value in arguments.items()
        )


class _GuardedModel(nn.Module):
    """The learner's model behind a `_Guard`: each forward call gets a copy of its input."""

    def __init__(self, model: nn.Module, guard: _Guard) -> None:
        super().__init__()
        self.model, self.guard = model, guard

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.guard(images)


def _guarded_answer(value, spec: _Answer) -> tuple:
    """``(guard, stand-in)``: the learner's function or model wrapped, or `CheckMisused`."""
    call, may_change = spec.call, spec.may_change
    if spec.kind == "model":
        if not isinstance(value, nn.Module):
            builder = " (a function: pass the trained network it built, not the function)" if callable(value) else ""
            raise CheckMisused(f"pass your trained network (an nn.Module), got {_type_name(value)}{builder}")
        guard = _Guard(value, call, may_change, to_cpu=False, what="model")
        return guard, _GuardedModel(value, guard)
    if not callable(value):
        raise CheckMisused(
            f"pass your function {call.partition('(')[0]} itself (not its result, so without calling it), "
            f"got {_type_name(value)}"
        )
    guard = _Guard(value, call, may_change)
    return guard, guard


def _changed_sentence(guard: _Guard) -> str:
    names = " and ".join(f"`{name}`" for name in guard.changed)
    if guard.what == "model":
        return (
            "your model changed its input in place (an in-place operation on it, such as nn.ReLU(inplace=True) first)"
        )
    return f"your function changed its argument{'s' if len(guard.changed) > 1 else ''} {names} in place"


def _copy_hint(guard: _Guard) -> str:
    if guard.what == "model":
        return "leave the input as it is: use out-of-place operations on it (x = x - m, nn.ReLU() without inplace)."
    name = guard.changed[0]
    method = "clone" if isinstance(guard.originals[name], torch.Tensor) else "copy"
    return (
        f"the caller's data must stay as it was: work on a copy ({name} = {name}.{method}()), "
        f"or write {name} = {name} - m rather than {name} -= m."
    )


def _copy(value):
    """A deep copy of ``value``; the value itself if it cannot be copied (a function, a module object)."""
    if callable(value) and not isinstance(value, nn.Module):
        return value
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _same(a, b) -> bool:
    """Whether ``a`` (a copy the learner had) still equals ``b`` (the original), NaN equal to NaN."""
    if isinstance(b, torch.Tensor):
        if not isinstance(a, torch.Tensor) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        a, b = a.detach(), b.detach()
        return torch.equal(a, b) or (b.is_floating_point() and bool(((a == b) | (a.isnan() & b.isnan())).all()))
    if isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=b.dtype.kind in "fc")
    if isinstance(b, nn.Module):
        return a.training == b.training and _same(a.state_dict(), b.state_dict())
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    if isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(b, np.random.Generator):
        return a.bit_generator.state == b.bit_generator.state
    return True  # numbers, strings and functions cannot be changed in place


def _to_cpu(value):
    """``value`` with every tensor in it (in tuples, lists, dicts) detached and on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (tuple, list)):
        return type(value)(_to_cpu(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    return value


def _type_name(value) -> str:
    return "None" if value is None else type(value).__name__


def _describe(name: str, value) -> str:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        kind = "array" if isinstance(value, np.ndarray) else "tensor"
        return f"{name}: {str(value.dtype).removeprefix('torch.')} {kind} of shape {tuple(value.shape)}"
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        number = round(float(value), 4) if isinstance(value, (float, np.floating)) else int(value)
        return f"{name}={number}"
    return f"{name}: {'an' if type(value).__name__[0] in 'AEIOU' else 'a'} {type(value).__name__}"


# --- State: a check leaves global state as it found it --------------------------------------------


@contextmanager
def _caller_state_kept() -> Iterator[None]:
    """Run a check in the conditions it was written for, then restore all global state."""
    saved = _global_state()
    try:
        _set_conditions((True, torch.float32, {"divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"}))
        yield
    finally:
        _restore(saved)


def _conditions() -> tuple:
    """What a check computes under: grad mode, the default dtype and NumPy's floating-point error handling.

    A check starts with grad mode on, float32 and NumPy's defaults, whatever the caller set, and
    the learner's code cannot change them for the rest of the check.
    """
    return torch.is_grad_enabled(), torch.get_default_dtype(), np.geterr()


def _set_conditions(conditions: tuple) -> None:
    grad, dtype, numpy_errors = conditions
    torch.set_grad_enabled(grad)
    torch.set_default_dtype(dtype)
    np.seterr(**numpy_errors)


def _global_state() -> dict:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "numpy_errors": np.geterr(),
        "torch": torch.get_rng_state(),
        "cuda": _cuda_rng_states(),
        "dtype": torch.get_default_dtype(),
        "grad": torch.is_grad_enabled(),
        "threads": torch.get_num_threads(),
        "anomaly": torch.is_anomaly_enabled(),
        "deterministic": (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
        ),
        "cudnn": (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark),
        "matmul_precision": torch.get_float32_matmul_precision(),
    }


def _cuda_rng_states() -> list | None:
    """Every GPU's random state (initialising CUDA if need be, so that it is exact), or None."""
    if not torch.cuda.is_available():
        return None
    try:
        return torch.cuda.get_rng_state_all()
    except RuntimeError:  # e.g. a forked process that cannot initialise CUDA: the check cannot use it either
        return None


def _restore(saved: dict) -> None:
    random.setstate(saved["python"])
    np.random.set_state(saved["numpy"])
    np.seterr(**saved["numpy_errors"])
    torch.set_rng_state(saved["torch"])
    if saved["cuda"] is not None:
        torch.cuda.set_rng_state_all(saved["cuda"])
    torch.set_default_dtype(saved["dtype"])
    torch.set_grad_enabled(saved["grad"])
    if torch.get_num_threads() != saved["threads"]:
        torch.set_num_threads(saved["threads"])
    torch.set_anomaly_enabled(saved["anomaly"])
    torch.use_deterministic_algorithms(saved["deterministic"][0], warn_only=saved["deterministic"][1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved["cudnn"]
    torch.set_float32_matmul_precision(saved["matmul_precision"])


# --- Helpers for check authors --------------------------------------------------------------------


def as_tensor(value: object, what: str, shape: tuple[int, ...] | None = None, hint: str = "") -> torch.Tensor:
    """``value`` as a float64 CPU tensor, or `CheckFailed` naming the expected type and shape.

    Args:
        value: the learner's answer (a number, a nested list, an array or a tensor on any device).
        what: how the message names it.
        shape: the expected shape, if any.
        hint: the hint for a wrong shape.
    """
    try:
        tensor = _to_cpu(torch.as_tensor(_to_cpu(value))).to(torch.float64)
    except Exception:  # whatever the learner returned, it is not a number, array or tensor
        raise CheckFailed(f"{what} should be a number, array or tensor, got {_type_name(value)}.") from None
    if shape is not None and tuple(tensor.shape) != tuple(shape):
        raise CheckFailed(f"{what} should have shape {tuple(shape)}, got {tuple(tensor.shape)}.", hint)
    return tensor


def expect_close(
    actual: object, expected: object, what: str, hint: str = "", rtol: float = 1e-4, atol: float = 1e-6
) -> None:
    """Fail with a message (not the answer) unless ``actual`` matches ``expected``.

    Args:
        actual: the learner's answer: a number, array or tensor (on any device).
        expected: the reference, of the shape ``actual`` must have.
        what: how the message names the answer.
        hint: the hint for a wrong value.
        rtol, atol: the tolerances of `torch.allclose`.
    """
    expected = torch.as_tensor(expected, dtype=torch.float64)
    actual = as_tensor(actual, what, expected.shape)
    if not torch.allclose(actual, expected, rtol=rtol, atol=atol):
        raise CheckFailed(
            f"{what} is not right yet (largest error {(actual - expected).abs().max().item():.3g}).", hint
        )


def close(actual: object, expected: object, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Whether two numbers or arrays have the same shape and agree (for telling one mistake from another).

    Args:
        actual, expected: numbers, arrays or tensors (on any device), of any shape.
        rtol, atol: the tolerances of `torch.allclose`.
    """
    actual, expected = (torch.as_tensor(_to_cpu(v), dtype=torch.float64) for v in (actual, expected))
    return actual.shape == expected.shape and bool(torch.allclose(actual, expected, rtol=rtol, atol=atol))
