"""Chapter 2 (`02_optimizers.ipynb`): the hand-written optimizers against `torch.optim`, and the self-checks."""

import math

import numpy as np
import pytest
import torch

import course_utils as cu
from verdicts import ROW, Solution, answer_of, assert_verdict, rows

NOTEBOOK = "02_optimizers.ipynb"

# (update function in the notebook, torch.optim class, hyper-parameters with torch's names)
RULES = [
    ("sgd_update", torch.optim.SGD, {"lr": 0.1}),
    ("momentum_update", torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    ("momentum_update", torch.optim.SGD, {"lr": 0.2, "momentum": 0.5}),
    ("momentum_update", torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("momentum_update", torch.optim.SGD, {"lr": 0.3, "momentum": 0.7, "nesterov": True}),
    ("rmsprop_update", torch.optim.RMSprop, {"lr": 0.01}),
    ("rmsprop_update", torch.optim.RMSprop, {"lr": 0.003, "alpha": 0.9, "eps": 1e-6}),
    ("adam_update", torch.optim.Adam, {"lr": 0.001}),
    ("adam_update", torch.optim.Adam, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6}),
]
RULE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in hyper.items())}" for name, _, hyper in RULES]


def _twin_parameters(seed, shapes=((5, 3), (3,), (1,))):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(shape, generator=gen, dtype=torch.float64) for shape in shapes]
    return gen, [p.clone().requires_grad_() for p in params], [p.clone().requires_grad_() for p in params]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name, torch_optimizer, hyper", RULES, ids=RULE_IDS)
def test_update_rules_match_torch_optim_on_random_gradients(scratch, name, torch_optimizer, hyper, seed):
    gen, ours, theirs = _twin_parameters(seed)
    our_optimizer = scratch["HandOptimizer"](ours, scratch[name], **hyper)
    their_optimizer = torch_optimizer(theirs, **hyper)
    for step in range(40):
        grads = [torch.randn(p.shape, generator=gen, dtype=torch.float64) * (1 + step % 3) for p in ours]
        for params, optimizer in [(ours, our_optimizer), (theirs, their_optimizer)]:
            for p, g in zip(params, grads):
                p.grad = g.clone()
            optimizer.step()
        for p, q in zip(ours, theirs):
            torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12, msg=f"{name} differs at step {step + 1}")


@pytest.mark.parametrize("name, torch_optimizer, hyper", RULES, ids=RULE_IDS)
def test_update_rules_match_torch_optim_on_a_least_squares_problem(scratch, name, torch_optimizer, hyper):
    torch.manual_seed(5)
    X, y = torch.randn(40, 4, dtype=torch.float64), torch.randn(40, 1, dtype=torch.float64)
    ours, theirs = torch.nn.Linear(4, 1).double(), torch.nn.Linear(4, 1).double()
    theirs.load_state_dict(ours.state_dict())
    optimizers = [
        scratch["HandOptimizer"](ours.parameters(), scratch[name], **hyper),
        torch_optimizer(theirs.parameters(), **hyper),
    ]
    initial_loss = ((ours(X) - y) ** 2).mean().item()
    for _ in range(50):
        for model, optimizer in zip([ours, theirs], optimizers):
            loss = ((model(X) - y) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12)
    assert ((ours(X) - y) ** 2).mean().item() < initial_loss  # it did train


@pytest.mark.parametrize("name, hyper", [(name, hyper) for name, _, hyper in RULES], ids=RULE_IDS)
def test_update_rules_give_the_same_steps_on_numpy_arrays(scratch, name, hyper):
    rng = np.random.default_rng(7)
    theta_np, grads = rng.normal(size=6), rng.normal(size=(10, 6))
    theta_t = torch.tensor(theta_np)
    state_np, state_t = {}, {}
    for grad in grads:
        scratch[name](theta_np, grad, state_np, **hyper)
        scratch[name](theta_t, torch.tensor(grad), state_t, **hyper)
    np.testing.assert_allclose(theta_np, theta_t.numpy(), rtol=1e-12)


def test_zero_grad_clears_gradients_and_parameters_without_gradients_stay(scratch):
    a, b = torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)
    optimizer = scratch["HandOptimizer"]([a, b], scratch["adam_update"], lr=0.1)
    (a**2).sum().backward()
    optimizer.step()
    assert not torch.equal(a.detach(), torch.ones(3)) and torch.equal(b.detach(), torch.ones(2))
    optimizer.zero_grad()
    assert a.grad is None and b.grad is None


@pytest.mark.parametrize("lr", [0.05, 0.3, 0.5, 0.9, 1.0, 1.05])
def test_gradient_descent_on_the_bowl_multiplies_by_one_minus_two_lr(scratch, lr):
    start = np.array([-4.0, -2.0])
    path = scratch["optimize"](scratch["sgd_update"], scratch["bowl_grad"], start, 15, lr=lr)
    assert path.shape == (16, 2)
    expected = (1 - 2 * lr) ** np.arange(16)[:, None] * start
    np.testing.assert_allclose(path, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("surface", ["bowl", "valley", "rugged"])
def test_surface_gradients_match_autograd(scratch, surface):
    for point in [[0.7, -1.3], [-1.9, 0.2], [0.0, 0.96]]:
        theta = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        scratch[surface](theta).backward()
        grad = scratch[f"{surface}_grad"](theta.detach().numpy())
        np.testing.assert_allclose(grad, theta.grad.numpy(), rtol=1e-12, atol=1e-12)
    stack = np.random.default_rng(0).normal(size=(5, 2))  # a stack of points: one gradient per row
    np.testing.assert_allclose(
        scratch[f"{surface}_grad"](stack), np.array([scratch[f"{surface}_grad"](p) for p in stack]), rtol=1e-12
    )


def test_the_rugged_surface_has_its_saddle_points_and_minima_where_the_chapter_says(scratch):
    deep, hump, shallow = np.sort(np.roots([4, 0, -4, 0.3]).real)
    grad = scratch["rugged_grad"]
    for point in [(1, deep), (-1, deep), (1, shallow), (-1, shallow), (0, shallow), (0, deep), (1, hump), (0, hump)]:
        np.testing.assert_allclose(grad(np.array(point, dtype=float)), 0, atol=1e-12)
    assert scratch["rugged"](np.array([1.0, deep])) < scratch["rugged"](np.array([1.0, shallow]))  # deep is global
    # gradient descent started on the ridge theta_0 = 0 never leaves it: it stops on the saddle point (0, shallow)
    path = scratch["optimize"](scratch["sgd_update"], grad, np.array([0.0, 2.0]), 500, lr=0.02)
    assert (path[:, 0] == 0).all()
    np.testing.assert_allclose(path[-1], [0, shallow], atol=1e-9)


def test_a_loss_that_dips_below_the_threshold_and_rises_again_has_not_settled(scratch):
    settle, dip = scratch["steps_to_settle"], scratch["steps_to_dip"]
    dips_then_blows_up = [5.0, 1e-4, 0.5, 17.0, 200.0]
    assert dip(dips_then_blows_up) == 1 and settle(dips_then_blows_up) is None
    dips_twice = [5.0, 1e-4, 2e-3, 5e-4, 1e-5, 1e-6]  # back above at step 2, below for good from step 3
    assert dip(dips_twice) == 1 and settle(dips_twice) == 3
    assert settle([2e-3, 1e-3, 9.99e-4]) == 2  # "below" is strict: 1e-3 itself is not below 1e-3
    assert settle([1e-4, 1e-5]) == 0 and dip([1e-4]) == 0  # below from the start
    assert settle([1.0, 1e-4, float("nan")]) is None  # a run that blew up (NaN) is not settled
    assert settle([1.0, float("nan"), 1e-4]) == 2
    assert dip([1.0, 0.5]) is None and settle([1.0, 0.5]) is None
    assert settle([1.0, 0.5, 0.01], threshold=0.1) == 2 and dip([1.0, 0.5, 0.01], threshold=0.6) == 1


def test_steps_to_settle_on_gradient_descent_runs(scratch):
    settle, dip, optimize = scratch["steps_to_settle"], scratch["steps_to_dip"], scratch["optimize"]
    start = np.array([-4.0, -2.0])

    def losses(lr, num_steps=100):
        with np.errstate(over="ignore", invalid="ignore"):
            return scratch["bowl"](optimize(scratch["sgd_update"], scratch["bowl_grad"], start, num_steps, lr=lr))

    assert settle(losses(0.5)) == 1  # one step to the minimum
    # E_k = 0.6**(2k) * 20 < 1e-3 first at k = 10, and it only decreases
    assert settle(losses(0.2)) == 10 == dip(losses(0.2))
    assert settle(losses(1.0)) is None and dip(losses(1.0)) is None  # oscillates for ever
    assert settle(losses(1.5, 2000)) is None  # diverges (to inf, then NaN)


def test_momentum_dips_below_the_threshold_before_it_settles_on_the_valley(scratch):
    path = scratch["optimize"](scratch["momentum_update"], scratch["valley_grad"], np.array([-8.0, 2.0]), 1000, lr=0.2)
    losses = scratch["valley"](path)
    dip, settle = scratch["steps_to_dip"](losses), scratch["steps_to_settle"](losses)
    assert dip < settle
    assert (losses[settle:] < 1e-3).all() and losses[settle - 1] >= 1e-3 and (losses[dip:settle] >= 1e-3).any()


@pytest.mark.parametrize("name, hyper", [(name, hyper) for name, _, hyper in RULES], ids=RULE_IDS)
def test_optimize_runs_a_stack_of_starts_like_separate_runs(scratch, name, hyper):
    rng = np.random.default_rng(3)
    starts, lrs = rng.normal(size=(4, 2)), np.array([0.01, 0.05, 0.2, 0.4])
    hyper = {k: v for k, v in hyper.items() if k != "lr"}
    together = scratch["optimize"](scratch[name], scratch["valley_grad"], starts, 30, lr=lrs[:, None], **hyper)
    assert together.shape == (31, 4, 2)
    for row, (start, lr) in enumerate(zip(starts, lrs)):
        alone = scratch["optimize"](scratch[name], scratch["valley_grad"], start, 30, lr=lr, **hyper)
        np.testing.assert_allclose(together[:, row], alone, rtol=1e-12, atol=1e-15)


# ---- self-checks ----------------------------------------------------------------------------------


def _passes(result):
    assert isinstance(result, cu.checks.CheckResult)
    return result.passed


def test_check_stable_lr_accepts_the_solution(solutions, capsys):
    assert _passes(cu.check_stable_lr(solutions["largest_stable_lr"]))
    assert "✅" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong",
    [
        lambda a, b: 1 / min(a, b),  # the flat direction
        lambda a, b: 2 / max(a, b),  # the 2/curvature rule with curvature a instead of 2a
        lambda a, b: 1 / (a + b),
        lambda a, b: 1.0,  # right only for the round bowl
    ],
)
def test_check_stable_lr_rejects_wrong_formulas(wrong, capsys):
    assert not _passes(cu.check_stable_lr(wrong))
    out = capsys.readouterr().out
    assert "❌" in out and "Hint" in out
    assert "0.333" not in out and "0.3333" not in out  # never the reference value 1/3 for (3.0, 0.5)


@pytest.mark.parametrize("wrong_type", [lambda a, b: "1/max(a, b)", lambda a, b: None, lambda a, b: [1.0, 2.0]])
def test_check_stable_lr_fails_cleanly_on_wrong_types(wrong_type, capsys):
    assert not _passes(cu.check_stable_lr(wrong_type))
    assert "❌" in capsys.readouterr().out


def test_check_adagrad_accepts_the_solution(solutions):
    assert _passes(cu.check_adagrad(solutions["adagrad_update"]))


def _adagrad_no_sqrt(theta, grad, state, lr=0.01, eps=1e-10):
    total = state["sum"] = state.get("sum", 0.0) + grad**2
    theta -= lr * grad / (total + eps)


def _adagrad_running_average(theta, grad, state, lr=0.01, eps=1e-10):  # that is RMSprop
    avg = state["avg"] = 0.99 * state.get("avg", 0.0) + 0.01 * grad**2
    theta -= lr * grad / (avg**0.5 + eps)


def _adagrad_forgets(theta, grad, state, lr=0.01, eps=1e-10):  # uses only the current gradient
    theta -= lr * grad / ((grad**2) ** 0.5 + eps)


def _adagrad_not_in_place(theta, grad, state, lr=0.01, eps=1e-10):
    total = state["sum"] = state.get("sum", 0.0) + grad**2
    theta = theta - lr * grad / (total**0.5 + eps)
    return theta


def _adagrad_crashes(theta, grad, state, lr=0.01, eps=1e-10):
    theta -= lr * grad / (state["sum"] ** 0.5 + eps)  # KeyError: the state starts empty


@pytest.mark.parametrize(
    "wrong", [_adagrad_no_sqrt, _adagrad_running_average, _adagrad_forgets, _adagrad_not_in_place, _adagrad_crashes]
)
def test_check_adagrad_rejects_wrong_updates(wrong, capsys):
    assert not _passes(cu.check_adagrad(wrong))
    assert "❌" in capsys.readouterr().out


def test_check_adagrad_hints_at_in_place_updates(capsys):
    cu.check_adagrad(_adagrad_not_in_place)
    assert "in place" in capsys.readouterr().out


def test_check_cosine_lr_accepts_the_solution(solutions):
    assert _passes(cu.check_cosine_lr(solutions["cosine_lr"]))


def test_the_cosine_solution_matches_torch_scheduler(solutions):
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=0.4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=12, eta_min=0.01)
    for step in range(13):
        assert math.isclose(solutions["cosine_lr"](step, 12, 0.4, 0.01), scheduler.get_last_lr()[0], rel_tol=1e-9)
        optimizer.step()
        scheduler.step()


def test_check_cosine_lr_compares_with_torchs_cosine_annealing_lr(monkeypatch, capsys):
    built = []

    class Recorded(torch.optim.lr_scheduler.CosineAnnealingLR):
        def __init__(self, optimizer, T_max, eta_min=0.0, **kwargs):
            built.append((T_max, eta_min, optimizer.param_groups[0]["lr"]))
            super().__init__(optimizer, T_max, eta_min, **kwargs)

    monkeypatch.setattr(torch.optim.lr_scheduler, "CosineAnnealingLR", Recorded)
    torch_rates = {}  # (total, lr_max, lr_min) -> the scheduler's rates, read from torch itself

    def replay_torch(step, total, lr_max, lr_min=0.0):
        if (total, lr_max, lr_min) not in torch_rates:
            optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr_max)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=lr_min)
            torch_rates[total, lr_max, lr_min] = []
            for _ in range(total + 1):
                torch_rates[total, lr_max, lr_min].append(scheduler.get_last_lr()[0])
                optimizer.step()
                scheduler.step()
        return torch_rates[total, lr_max, lr_min][step]

    assert _passes(cu.check_cosine_lr(replay_torch))
    assert (10, 0.0, 0.1) in built and (7, 0.05, 0.3) in built and (100, 0.01, 1.0) in built  # (T_max, eta_min, lr)
    assert len(built) == 2 * 3  # the check's three schedules, and the answer's own
    assert "✅" in capsys.readouterr().out


def test_the_cosine_check_reference_is_the_closed_form():
    from course_utils.checks.optimizers import _cosine_reference

    for total, lr_max, lr_min in [(10, 0.1, 0.0), (7, 0.3, 0.05), (100, 1.0, 0.01)]:
        expected = [lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t / total)) for t in range(total + 1)]
        np.testing.assert_allclose(_cosine_reference(total, lr_max, lr_min), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "wrong",
    [
        lambda step, total, lr_max, lr_min=0.0: lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * step / total)),
        lambda step, total, lr_max, lr_min=0.0: (
            lr_min + 0.5 * (lr_max - lr_min) * (1 + math.sin(math.pi * step / total))
        ),
        lambda step, total, lr_max, lr_min=0.0: (
            lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * step / (total - 1)))
        ),
        lambda step, total, lr_max, lr_min=0.0: lr_max - (lr_max - lr_min) * step / total,  # linear decay
        lambda step, total, lr_max, lr_min=0.0: 0.5 * lr_max * (1 + math.cos(math.pi * step / total)),  # ignores lr_min
    ],
)
def test_check_cosine_lr_rejects_wrong_schedules(wrong, capsys):
    assert not _passes(cu.check_cosine_lr(wrong))
    assert "❌" in capsys.readouterr().out


def test_check_cosine_lr_fails_cleanly_on_wrong_types(capsys):
    assert not _passes(cu.check_cosine_lr(lambda step, total, lr_max, lr_min=0.0: [lr_max] * (step + 1)))
    assert not _passes(cu.check_cosine_lr(lambda step, total, lr_max, lr_min=0.0: {"lr": lr_max}))
    assert capsys.readouterr().out.count("❌") == 2


# --- every check's table: the reference, plausible mistakes, in-place changes, junk --------------

STABLE_LR_ANSWERS = [
    ("reference", Solution("largest_stable_lr"), "passed", ()),
    ("the flat direction", lambda a, b: 1 / min(a, b), "wrong", ("stricter",)),
    ("curvature a, not 2a", lambda a, b: 2 / max(a, b), "wrong", ("2a",)),
    ("one over the sum", lambda a, b: 1 / (a + b), "wrong", ("each coordinate",)),
    ("a tensor", lambda a, b: torch.tensor(1 / max(a, b)), "passed", ()),
    ("None", lambda a, b: None, "wrong", ("number", "got None")),
    ("two numbers", lambda a, b: (1 / a, 1 / b), "wrong", ("shape",)),
    ("crashes", lambda a, b: max(a, b).reciprocal(), "raised", ("AttributeError", "largest_stable_lr(a, b)")),
]


@pytest.mark.parametrize(ROW, rows(STABLE_LR_ANSWERS))
def test_check_stable_lr_table(answer, kind, words, solutions):
    assert_verdict(cu.check_stable_lr(answer_of(answer, solutions)), kind, words)


def _adagrad_divides_grad_in_place(theta, grad, state, lr=0.01, eps=1e-10):  # right values, grad changed
    total = state["sum"] = state.get("sum", 0.0) + grad**2
    grad /= total**0.5 + eps
    theta -= lr * grad


def _adagrad_doubles_grad_first(theta, grad, state, lr=0.01, eps=1e-10):
    grad *= 2
    total = state["sum"] = state.get("sum", 0.0) + grad**2
    theta -= lr * grad / (total**0.5 + eps)


def _adagrad_eps_inside(theta, grad, state, lr=0.01, eps=1e-10):
    total = state["sum"] = state.get("sum", 0.0) + grad**2
    theta -= lr * grad / (total + eps) ** 0.5


ADAGRAD_ANSWERS = [
    ("reference", Solution("adagrad_update"), "passed", ()),
    ("no square root", _adagrad_no_sqrt, "wrong", ("first step",)),
    ("a running average", _adagrad_running_average, "wrong", ()),
    ("forgets the past", _adagrad_forgets, "wrong", ("a sum, not an average",)),
    ("eps inside the root", _adagrad_eps_inside, "wrong", ("|g| + eps",)),
    ("not in place", _adagrad_not_in_place, "wrong", ("did not change", "in place")),
    ("divides grad in place", _adagrad_divides_grad_in_place, "changed-input", ("`grad`", "grad.clone()")),
    ("doubles grad first", _adagrad_doubles_grad_first, "wrong", ("`grad`", "in place")),
    ("crashes", _adagrad_crashes, "raised", ("KeyError", "adagrad_update(theta, grad, state, lr, eps)")),
]


@pytest.mark.parametrize(ROW, rows(ADAGRAD_ANSWERS))
def test_check_adagrad_table(answer, kind, words, solutions):
    assert_verdict(cu.check_adagrad(answer_of(answer, solutions)), kind, words)


def _cosine(step, total, lr_max, lr_min=0.0, fraction=lambda step, total: step / total):
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * fraction(step, total)))


COSINE_ANSWERS = [
    ("reference", Solution("cosine_lr"), "passed", ()),
    ("integer division", lambda *a: _cosine(*a, fraction=lambda s, t: s // t), "wrong", ("step // total_steps",)),
    (
        "lr_max and lr_min swapped",
        lambda step, total, lr_max, lr_min=0.0: _cosine(step, total, lr_min, lr_max),
        "wrong",
        ("step 0",),
    ),
    ("ignores lr_min", lambda step, total, lr_max, lr_min=0.0: _cosine(step, total, lr_max), "wrong", ()),
    ("a tensor", lambda *a: torch.tensor(_cosine(*a)), "passed", ()),
    ("a list", lambda *a: [_cosine(*a)] * 2, "wrong", ("shape",)),
    (
        "crashes",
        lambda step, total, lr_max, lr_min=0.0: math.cos(step / (total - total)),
        "raised",
        ("ZeroDivisionError",),
    ),
]


@pytest.mark.parametrize(ROW, rows(COSINE_ANSWERS))
def test_check_cosine_lr_table(answer, kind, words, solutions):
    assert_verdict(cu.check_cosine_lr(answer_of(answer, solutions)), kind, words)
