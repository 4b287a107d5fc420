"""The rules of the self-check framework, tested for every check of the book (table-driven).

1. Copies: the learner's function gets copies of the check's data, the reference comes from
   pristine data, and a verdict says when the function changed an argument in place.
2. State: a check leaves global state (random generators, default dtype, grad mode, threads, ...)
   as it found it, and works whatever state the caller left.
3. Blame: a wrong answer, the learner's exception, a misuse of the check, an environment problem
   and a bug in the check each get their own verdict.

Each check appears in the tables below with the reference answer of its chapter (the notebook's
``exercise-solution`` cells). The chapters' own test modules hold each check's wrong answers and hints.
"""

import random

import numpy as np
import pytest
import torch
from torch import nn

import course_utils as cu
from course_utils.checks import CheckFailed, CheckMisused, CheckResult, dense_networks, linear_models, self_check
from course_utils.repro import CourseEnvironmentError
from nbdefs import cells_with_tag, load_definitions
from verdicts import fake_mnist_test_set

NOTEBOOKS = ["01_linear_models.ipynb", "02_optimizers.ipynb", "03_overfitting.ipynb", "04_dense_networks.ipynb"]
NOTEBOOKS.append("05_cnns.ipynb")

# check -> (its chapter, the solution's name, the arguments the learner must not change, by position
# and by name). Positions not listed (theta, state, model, optimizer, rng) are meant to change.
FUNCTION_CHECKS = {
    "check_mae_gradients": ("01_linear_models.ipynb", "mae_gradients", {0: "X", 1: "y", 2: "w"}),
    "check_normal_equations": ("01_linear_models.ipynb", "normal_equations", {0: "X", 1: "y"}),
    "check_online_epoch": ("01_linear_models.ipynb", "online_epoch", {3: "X", 4: "y"}),
    "check_stable_lr": ("02_optimizers.ipynb", "largest_stable_lr", {}),
    "check_adagrad": ("02_optimizers.ipynb", "adagrad_update", {1: "grad"}),
    "check_cosine_lr": ("02_optimizers.ipynb", "cosine_lr", {}),
    "check_split": ("03_overfitting.ipynb", "split_indices", {}),
    "check_cross_validation": ("03_overfitting.ipynb", "cross_val_mse", {0: "x", 1: "y"}),
    "check_ridge_free_intercept": ("03_overfitting.ipynb", "ridge_free_intercept", {0: "X", 1: "y"}),
    "check_softmax_jacobian": ("04_dense_networks.ipynb", "softmax_jacobian", {0: "z"}),
    "check_dense_gradients": ("04_dense_networks.ipynb", "dense_layer_gradients", {0: "X", 1: "Y", 2: "W", 3: "b"}),
    "check_regression_backprop": (
        "04_dense_networks.ipynb",
        "regression_mlp_gradients",
        {0: "X", 1: "Y", 2: "W1", 3: "b1", 4: "W2", 5: "b2"},
    ),
    "check_im2col": ("05_cnns.ipynb", "im2col", {0: "X"}),
    "check_max_pool": ("05_cnns.ipynb", "max_pool2d_padded", {0: "X"}),
}
VALUE_CHECKS = {"check_hidden_width": "04_dense_networks.ipynb", "check_cnn_shapes": "05_cnns.ipynb"}
MODEL_CHECKS = {"check_small_cnn": "05_cnns.ipynb"}
ALL_CHECKS = sorted([*FUNCTION_CHECKS, *VALUE_CHECKS, *MODEL_CHECKS])
MUTABLE = [name for name, (_, _, args) in FUNCTION_CHECKS.items() if args]


def test_the_tables_cover_every_check():
    assert ALL_CHECKS == sorted(name for name in dir(cu) if hasattr(getattr(cu, name), "check_name"))


@pytest.fixture(scope="module")
def solutions():
    """The reference solutions of every chapter, by name."""
    names = {}
    for notebook in NOTEBOOKS:
        names.update(load_definitions(notebook, "exercise-solution"))
    return names


def vandalise_global_state():
    """What a careless learner's code (or a careless check) might do to global state."""
    random.random(), np.random.rand(), torch.rand(1)
    torch.manual_seed(12345)
    torch.set_grad_enabled(False)
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    np.seterr(all="ignore")
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("medium")


class VandalModel(nn.Module):
    """A model whose forward pass is right but changes global state."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        vandalise_global_state()
        return out


@pytest.fixture(scope="module")
def fake_test_set():
    """A fast right answer for exercise 5.3 (its real training is tested in test_cnns.py)."""
    return fake_mnist_test_set()


def reference_call(name, solutions, fake_test_set, monkeypatch, vandal=False):
    """``(check, args)``: the check with its chapter's right answer; with ``vandal``, the learner's
    code (or, for 4.3, the training) also vandalises global state."""
    check = getattr(cu, name)
    if name in FUNCTION_CHECKS:
        solution = solutions[FUNCTION_CHECKS[name][1]]

        def vandal_solution(*args, **kwargs):
            result = solution(*args, **kwargs)
            vandalise_global_state()
            return result

        return check, (vandal_solution if vandal else solution,)
    if name == "check_hidden_width":

        def fake_training(*args):  # the real two epochs are tested in test_dense_networks.py
            if vandal:
                vandalise_global_state()
            return 0.99

        monkeypatch.setattr(dense_networks, "_train_briefly", fake_training)
        return check, solutions["design_within_budget"](cu.load_mnist().X_train, dense_networks.PARAM_BUDGET)
    if name == "check_cnn_shapes":
        return check, (solutions["shape"], solutions["num_params"])
    model, X, y = fake_test_set
    return check, (VandalModel(model) if vandal else model, X, y)


def observable_state():
    """Global state as a caller could observe it (written independently of the framework's copy)."""
    return {
        "python": random.getstate(),
        "numpy": (np.random.get_state()[1].tolist(), np.random.get_state()[2:]),
        "torch": torch.get_rng_state().tolist(),
        "dtype": torch.get_default_dtype(),
        "grad": torch.is_grad_enabled(),
        "threads": torch.get_num_threads(),
        "numpy_errors": np.geterr(),
        "cudnn": (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "matmul": torch.get_float32_matmul_precision(),
        "anomaly": torch.is_anomaly_enabled(),
    }


@pytest.fixture
def unusual_caller_state():
    """A caller who set float64, turned grad mode off, uses fewer threads and raises on NumPy
    floating-point errors; restored afterwards."""
    before = (torch.get_default_dtype(), torch.is_grad_enabled(), torch.get_num_threads(), np.geterr())
    cu.set_seed(7)
    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    torch.set_num_threads(max(1, before[2] - 1))
    np.seterr(all="raise")
    yield
    torch.set_default_dtype(before[0])
    torch.set_grad_enabled(before[1])
    torch.set_num_threads(before[2])
    np.seterr(**before[3])
    torch.backends.cudnn.benchmark = False
    torch.set_float32_matmul_precision("highest")


def next_draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()


# --- 2. State ------------------------------------------------------------------------------------


@pytest.mark.parametrize("vandal", [False, True], ids=["reference", "reference-that-vandalises"])
@pytest.mark.parametrize("name", ALL_CHECKS)
def test_a_check_leaves_global_state_as_it_found_it(
    name, vandal, solutions, fake_test_set, monkeypatch, unusual_caller_state
):
    check, args = reference_call(name, solutions, fake_test_set, monkeypatch, vandal)
    before = observable_state()
    result = check(*args)
    assert result.passed, result  # whatever state the caller (or the learner's code) set
    assert observable_state() == before
    expected = next_draws()
    cu.set_seed(7)
    assert next_draws() == expected  # the learner's next cell gives the numbers it gave before


def test_state_is_restored_when_a_check_fails_or_crashes(solutions, unusual_caller_state):
    before = observable_state()

    def crashes(*args):
        vandalise_global_state()
        raise ValueError("boom")

    for answer in (crashes, lambda *args: vandalise_global_state(), solutions["mae_gradients"]):
        cu.check_mae_gradients(answer)
        assert observable_state() == before


# --- 1. Copies -----------------------------------------------------------------------------------


def scramble(value):
    """Change a float array or tensor in place, beyond an affine map of its values (order reversed)."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        value[...] = value[::-1] * 1.5 + 0.25
    elif isinstance(value, torch.Tensor) and value.is_floating_point():
        with torch.no_grad():
            value.copy_(value.flip(0) * 1.5 + 0.25)


@pytest.mark.parametrize("name", MUTABLE)
def test_a_right_answer_that_changes_its_inputs_in_place_is_told_so(name, solutions):
    _, solution_name, mutable = FUNCTION_CHECKS[name]
    solution = solutions[solution_name]

    def right_then_changes(*args, **kwargs):
        result = solution(*args, **kwargs)
        for i in mutable:
            scramble(args[i])
        return result

    result = getattr(cu, name)(right_then_changes)
    assert not result.passed and result.kind == "changed-input", result
    assert "right" in result.message and "in place" in result.message
    assert all(f"`{arg}`" in result.message for arg in mutable.values()), result.message
    assert "copy" in result.hint or "clone" in result.hint


@pytest.mark.parametrize("name", MUTABLE)
def test_the_reference_comes_from_pristine_data(name, solutions):
    """A function that changes its inputs and answers for the changed data is wrong for the data it
    was given: the check must not compute its reference from what the function left behind."""
    _, solution_name, mutable = FUNCTION_CHECKS[name]
    solution = solutions[solution_name]

    def changes_then_answers(*args, **kwargs):
        for i in mutable:
            scramble(args[i])
        return solution(*args, **kwargs)

    result = getattr(cu, name)(changes_then_answers)
    assert not result.passed and result.kind == "wrong", result
    assert "in place" in result.hint


@pytest.mark.parametrize("name", [name for name in FUNCTION_CHECKS if name not in MUTABLE])
def test_checks_with_only_numbers_as_arguments_accept_the_reference(name, solutions):
    assert getattr(cu, name)(solutions[FUNCTION_CHECKS[name][1]]).kind == "passed"


def test_the_callers_objects_are_never_changed(fake_test_set):
    model, X, y = fake_test_set
    state, X_before = {k: v.clone() for k, v in model.state_dict().items()}, X.clone()
    model.train()
    in_place = nn.Sequential(nn.ReLU(inplace=True), model)  # changes its input
    result = cu.check_small_cnn(in_place, X, y)
    assert not result.passed and "in place" in result.message + result.hint
    assert torch.equal(X, X_before) and model.training
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


class OnAnotherDevice(torch.Tensor):
    """Like a CUDA tensor seen from the CPU: it can be detached and moved to the CPU, nothing else."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("detach", "__get__", "__repr__", "__format__"):
            return super().__torch_function__(func, types, args, kwargs or {})
        if name == "cpu":
            return args[0].as_subclass(torch.Tensor).clone()
        raise RuntimeError(f"Expected all tensors to be on the same device, but found cuda:0 and cpu ({name})")


def elsewhere(value):
    return torch.as_tensor(value).as_subclass(OnAnotherDevice)


@pytest.mark.parametrize(
    "name, answer",
    [
        ("check_mae_gradients", lambda s: lambda *a: tuple(elsewhere(g) for g in s["mae_gradients"](*a))),
        ("check_normal_equations", lambda s: lambda *a: tuple(elsewhere(v) for v in s["normal_equations"](*a))),
        ("check_stable_lr", lambda s: lambda a, b: elsewhere(s["largest_stable_lr"](a, b))),
        ("check_split", lambda s: lambda *a: [elsewhere(i) for i in s["split_indices"](*a)]),
        ("check_ridge_free_intercept", lambda s: lambda *a: elsewhere(s["ridge_free_intercept"](*a))),
        ("check_softmax_jacobian", lambda s: lambda z: elsewhere(s["softmax_jacobian"](z))),
        ("check_im2col", lambda s: lambda *a: elsewhere(s["im2col"](*a))),
        ("check_max_pool", lambda s: lambda *a: elsewhere(s["max_pool2d_padded"](*a))),
    ],
)
def test_right_answers_on_another_device_are_accepted(name, answer, solutions):
    assert getattr(cu, name)(answer(solutions)).passed


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the CPU stand-in is tested above)")
def test_right_answers_on_a_gpu_are_accepted(solutions):
    cuda = lambda value: torch.as_tensor(value, device="cuda")
    assert cu.check_mae_gradients(lambda *a: tuple(cuda(g) for g in solutions["mae_gradients"](*a))).passed
    assert cu.check_split(lambda *a: [cuda(i) for i in solutions["split_indices"](*a)]).passed
    assert cu.check_im2col(lambda *a: cuda(solutions["im2col"](*a))).passed


# --- 3. Blame ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*FUNCTION_CHECKS, *MODEL_CHECKS])
def test_the_learners_exception_is_reported_as_theirs(name, fake_test_set, capsys):
    def raises(*args, **kwargs):
        raise ValueError("boom")

    class Raises(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(784, 10)

        def forward(self, x):
            raise ValueError("boom")

    check = getattr(cu, name)
    result = check(raises) if name in FUNCTION_CHECKS else check(Raises(), *fake_test_set[1:])
    assert not result.passed and result.kind == "raised"
    assert result.message == "your code raised ValueError: boom"
    called_as = check.usage.removeprefix(f"cu.{name}(").split(",")[0].rstrip(")")
    assert f"called as {called_as}(" in result.hint  # it names the call, with the exercise's names
    assert "Traceback" not in capsys.readouterr().out


@pytest.mark.parametrize("name", FUNCTION_CHECKS)
def test_a_stub_is_not_attempted_but_a_library_not_implemented_error_is_shown(name):
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 9.9 (title): write this function")

    def library(*args, **kwargs):
        raise NotImplementedError("Could not run 'aten::something' with arguments from the 'Meta' backend")

    assert getattr(cu, name)(stub).kind == "not-attempted"
    result = getattr(cu, name)(library)
    assert result.kind == "raised" and "Could not run" in result.message


@pytest.mark.parametrize("name", ALL_CHECKS)
def test_a_misused_check_says_how_to_call_it(name, solutions, fake_test_set, monkeypatch):
    check, args = reference_call(name, solutions, fake_test_set, monkeypatch)
    for wrong_call in [(), (*args, "one too many")]:
        result = check(*wrong_call)
        assert not result.passed and result.kind == "misuse", (wrong_call, result)
        assert result.message.startswith("the check was called the wrong way") and check.usage in result.hint
    result = check(*args, no_such_argument=1)
    assert result.kind == "misuse" and "no_such_argument" in result.message


@pytest.mark.parametrize("name", FUNCTION_CHECKS)
def test_passing_a_result_instead_of_the_function_is_a_misuse(name):
    for not_a_function in [(0.5, -1.0), None, np.zeros(3)]:
        result = getattr(cu, name)(not_a_function)
        assert result.kind == "misuse" and "itself" in result.message, result


@pytest.mark.parametrize("name", ALL_CHECKS)
def test_the_usage_in_messages_is_how_the_chapter_calls_the_check(name):
    notebook = {**{k: v[0] for k, v in FUNCTION_CHECKS.items()}, **VALUE_CHECKS, **MODEL_CHECKS}[name]
    assert any(getattr(cu, name).usage in source for source in cells_with_tag(notebook, "self-check"))


@pytest.mark.parametrize("name", ALL_CHECKS)
def test_a_bad_course_device_stops_only_the_checks_that_use_a_device(name, solutions, fake_test_set, monkeypatch):
    check, args = reference_call(name, solutions, fake_test_set, monkeypatch)
    if name == "check_hidden_width":
        monkeypatch.undo()  # the real training, which asks for the device first
    monkeypatch.setenv("COURSE_DEVICE", "banana")
    result = check(*args)
    if name in ("check_hidden_width", "check_small_cnn"):
        assert result.kind == "environment" and "COURSE_DEVICE='banana'" in result.message, result
        assert "'cpu'" in result.message and "not your answer" in result.hint
    else:
        assert result.passed, result


def test_missing_mnist_is_an_environment_problem(solutions, monkeypatch):
    def no_mnist(*args, **kwargs):
        raise RuntimeError("MNIST is not in /nowhere/MNIST/raw and could not be downloaded")

    monkeypatch.setattr(dense_networks, "load_mnist", no_mnist)
    result = cu.check_hidden_width(0, 31)  # within the budget, so the check goes on to load MNIST
    assert result.kind == "environment" and "MNIST/raw" in result.message and "COURSE_DATA_DIR" in result.message


def test_a_bug_in_a_check_is_not_blamed_on_the_learner(solutions, monkeypatch):
    def broken_reference(*args):
        raise KeyError("oops")

    monkeypatch.setattr(linear_models, "_mae_reference", broken_reference)
    result = cu.check_mae_gradients(solutions["mae_gradients"])
    assert result.kind == "internal" and "not in your answer" in result.message
    assert "your code" not in result.message and "report" in result.hint


def test_the_verdict_kinds_of_a_demo_check(capsys):
    @self_check("Exercise 0.2 (demo)", answer="function", call="double(v)")
    def check_demo(fn) -> None:
        if fn(np.ones(2))[0] != 2:
            raise CheckFailed("not doubled", "multiply by 2")

    @self_check("Exercise 0.3 (demo)")
    def check_setting(value) -> None:
        if value == "env":
            raise CourseEnvironmentError("COURSE_DEVICE='x' is not a device")
        if value == "misuse":
            raise CheckMisused("pass a number")
        raise KeyError("a bug")

    assert check_demo(lambda v: 2 * v).kind == "passed"
    assert check_demo(lambda v: v).kind == "wrong"
    assert check_demo.usage == "cu.check_demo(fn)"
    assert [check_setting(v).kind for v in ("env", "misuse", "bug")] == ["environment", "misuse", "internal"]
    assert isinstance(check_demo(lambda v: v), CheckResult)
