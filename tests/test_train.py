import pytest
import torch
from torch import nn

import course_utils as cu


def _classifier():
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))


def test_fit_lowers_the_loss_and_records_history(toy_classification):
    X, y = toy_classification
    torch.manual_seed(0)
    model = _classifier()
    before = cu.evaluate(model, X, y, nn.CrossEntropyLoss())
    history = cu.fit(
        model,
        nn.CrossEntropyLoss(),
        torch.optim.Adam(model.parameters(), lr=0.01),
        X,
        y,
        num_epochs=5,
        batch_size=32,
        X_val=X,
        y_val=y,
        progress=False,
    )
    after = cu.evaluate(model, X, y, nn.CrossEntropyLoss())
    assert after["loss"] < before["loss"] / 3 and after["accuracy"] > 0.95
    assert len(history.steps) == 5 * 10  # ceil(300 / 32) = 10 steps per epoch
    assert [row["epoch"] for row in history.epochs] == [1, 2, 3, 4, 5]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"} <= set(history.epochs[0])
    assert history.column("val_loss")[-1] == pytest.approx(after["loss"], rel=1e-5)
    assert history.column("loss", per="step")[0] > history.column("loss", per="step")[-1]
    assert history.seconds > 0
    with pytest.raises(KeyError, match="val_acc"):
        history.column("val_acc")


def test_fit_records_numbers_and_the_first_steps_time(toy_classification):
    # Steps are kept as tensors during an epoch (no waiting for the GPU at every step) and turned
    # into Python numbers at its end; the first step is timed on its own (it holds GPU start-up).
    X, y = toy_classification
    model = _classifier()
    history = cu.fit(
        model,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1),
        X,
        y,
        num_epochs=2,
        batch_size=100,
        progress=False,
    )
    assert all(type(s["loss"]) is float and type(s["accuracy"]) is float for s in history.steps)
    assert 0 < history.first_step_seconds < history.epochs[0]["seconds"]
    assert cu.History().first_step_seconds is None  # until a first step has run


def test_fit_regression_records_no_accuracy():
    X = torch.randn(64, 3)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5]])
    model = nn.Linear(3, 1)
    history = cu.fit(
        model,
        nn.MSELoss(),
        torch.optim.SGD(model.parameters(), lr=0.1),
        X,
        y,
        num_epochs=20,
        batch_size=16,
        progress=False,
    )
    assert "train_accuracy" not in history.epochs[0]
    assert history.epochs[-1]["train_loss"] < 1e-3
    assert cu.evaluate(model, X, y, nn.MSELoss()).keys() == {"loss"}


def test_epoch_loss_is_the_size_weighted_mean_of_the_step_losses(toy_classification):
    X, y = toy_classification
    model = _classifier()
    history = cu.fit(
        model,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.0),
        X,
        y,
        num_epochs=1,
        batch_size=128,
        progress=False,
    )  # lr 0: the model does not change
    assert [s["size"] for s in history.steps] == [128, 128, 44]
    assert history.epochs[0]["train_loss"] == pytest.approx(
        cu.evaluate(model, X, y, nn.CrossEntropyLoss())["loss"], rel=1e-5
    )


def test_scheduler_and_transform_are_applied_every_batch(toy_classification):
    X, y = toy_classification
    model = _classifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    seen = []
    cu.fit(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        X,
        y,
        num_epochs=2,
        batch_size=100,
        scheduler=scheduler,
        transform=lambda batch: seen.append(len(batch)) or batch,
        progress=False,
    )
    assert seen == [100] * 6
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5**6)


def test_fit_shuffles_with_the_torch_seed(toy_classification):
    X, y = toy_classification
    losses = []
    for _ in range(2):
        cu.set_seed(123)
        model = _classifier()
        history = cu.fit(
            model,
            nn.CrossEntropyLoss(),
            torch.optim.SGD(model.parameters(), lr=0.1),
            X,
            y,
            num_epochs=2,
            batch_size=50,
            progress=False,
        )
        losses.append(history.column("loss", per="step"))
    assert losses[0] == losses[1]


def test_progress_bar_goes_to_stdout(toy_classification, capsys):
    X, y = toy_classification
    model = _classifier()
    cu.fit(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), X, y, num_epochs=1)
    out = capsys.readouterr()
    assert "5/5" in out.out and out.err == ""
    cu.fit(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), X, y, progress=False)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "X, y, match",
    [
        (torch.randn(10, 2), torch.zeros(9, dtype=torch.int64), r"got X \(10, 2\) and y \(9,\)"),
        (
            torch.ones(10, 2, dtype=torch.int64),
            torch.zeros(10, dtype=torch.int64),
            r"expected a float X, got torch.int64",
        ),
        (torch.randn(10, 2), torch.zeros(10, dtype=torch.int32), r"int64 class labels or float targets.*torch.int32"),
        ([[1.0, 2.0]], torch.zeros(1), r"expected two torch tensors, got list"),
    ],
)
def test_bad_inputs_raise_value_errors_that_name_the_problem(X, y, match):
    model = _classifier()
    with pytest.raises(ValueError, match=match):
        cu.fit(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), X, y, progress=False)
    with pytest.raises(ValueError, match=match):
        cu.evaluate(model, X, y)


def test_validation_data_must_come_in_pairs(toy_classification):
    X, y = toy_classification
    model = _classifier()
    with pytest.raises(ValueError, match="both X_val and y_val"):
        cu.fit(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), X, y, X_val=X)
    with pytest.raises(ValueError, match=r"X_val, y_val.*\(300, 2\) and y \(5,\)"):
        cu.fit(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), X, y, X_val=X, y_val=y[:5])


def test_predict_batches_and_restores_the_mode(toy_classification):
    X, y = toy_classification
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train()
    out = cu.predict(model, X, batch_size=7)
    assert model.training and out.shape == (300, 3) and not out.requires_grad
    model.eval()
    torch.testing.assert_close(out, model(X).detach())  # eval mode: dropout off, same as one big batch
    accuracy = (out.argmax(1) == y).float().mean().item()
    assert cu.evaluate(model, X, y)["accuracy"] == pytest.approx(accuracy)


def test_set_seed_makes_runs_repeatable():
    cu.set_seed(7)
    a = (torch.randn(3), __import__("numpy").random.rand(), __import__("random").random())
    cu.set_seed(7)
    b = (torch.randn(3), __import__("numpy").random.rand(), __import__("random").random())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


def test_get_device_default_and_forced(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert cu.get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert cu.get_device() == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    if torch.cuda.is_available():
        assert cu.get_device().type == "cuda"
    else:
        with pytest.raises(RuntimeError, match="COURSE_DEVICE='cuda' asks for a GPU"):
            cu.get_device()


def test_mlp_builder_shapes():
    model = cu.mlp(num_inputs=784, num_hidden=32, num_outputs=10)
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)
    assert sum(p.numel() for p in model.parameters()) == 784 * 32 + 32 + 32 * 10 + 10


def test_forced_device_catches_a_batch_and_a_buffer_elsewhere(monkeypatch, toy_classification):
    X, y = toy_classification
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    model = _classifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.clone() for p in model.parameters()]
    to_meta = lambda batch: batch.to("meta")  # a transform that moves the batch off the forced device
    with pytest.raises(RuntimeError, match=r"COURSE_DEVICE='cpu', but 'X_batch' is on meta"):
        cu.fit(model, nn.CrossEntropyLoss(), optimizer, X, y, transform=to_meta, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # raised before any step
    model.register_buffer("stray", torch.zeros(1, device="meta"))
    with pytest.raises(RuntimeError, match=r"the model's 'stray' is on meta"):
        cu.predict(model, X)


def test_check_device_matches_an_index_only_when_one_is_asked_for(monkeypatch):
    from course_utils.repro import check_device

    cpu_tensor = torch.zeros(1)
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    check_device(x=torch.zeros(1, device="meta"))  # unset: nothing is checked
    for forced in ("cpu", "cpu:0"):
        monkeypatch.setenv("COURSE_DEVICE", forced)
        check_device(x=cpu_tensor)
    monkeypatch.setenv("COURSE_DEVICE", "cuda:1")
    with pytest.raises(RuntimeError, match=r"COURSE_DEVICE='cuda:1', but 'x' is on cpu"):
        check_device(x=cpu_tensor)


# --- fit, evaluate and predict validate what they are given ---------------------------------------


def _toy_fit_arguments():
    """The arguments of a small, valid fit: 40 points, 2 classes, batches of 16 (3 steps an epoch)."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(40, 2, generator=gen)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return {"model": model, "loss_fn": nn.CrossEntropyLoss(), "optimizer": optimizer, "X": X, "y": (X[:, 0] > 0).long()}


def _with(X_at=None, y_at=None, value=float("nan")):
    def change(args):
        if y_at is not None:  # a regression: float targets of shape (N, 1)
            args["loss_fn"], args["model"], args["y"] = nn.MSELoss(), nn.Linear(2, 1), args["y"].float()[:, None]
            args["optimizer"] = torch.optim.SGD(args["model"].parameters(), lr=0.1)
        for name, at in (("X", X_at), ("y", y_at)):
            if at is not None:
                args[name] = args[name].clone()
                args[name][at] = value
        return args

    return change


def _regression(y_shape, model_outputs=1):
    def change(args):
        args["model"] = nn.Linear(2, model_outputs)
        args["optimizer"] = torch.optim.SGD(args["model"].parameters(), lr=0.1)
        args["loss_fn"], args["y"] = nn.MSELoss(), args["X"].sum(dim=1).reshape(y_shape)
        return args

    return change


def _replace(**changes):
    return lambda args: args | changes


def _frozen(args):
    for p in args["model"].parameters():
        p.requires_grad_(False)
    return args


# (case, how the valid arguments change, the words of the ValueError: argument, expected, given, fix)
FIT_BAD_ARGUMENTS = [
    (
        "batch_size 0",
        _replace(batch_size=0),
        r"batch_size: expected a whole number of at least 1, got 0 \(int\); "
        r"pass e\.g\. batch_size=64",
    ),
    ("batch_size negative", _replace(batch_size=-16), r"batch_size: .*got -16 \(int\)"),
    ("batch_size a float", _replace(batch_size=16.0), r"batch_size: .*got 16\.0 \(float\)"),
    ("batch_size a bool", _replace(batch_size=True), r"batch_size: .*got True \(bool\)"),
    ("batch_size a string", _replace(batch_size="16"), r"batch_size: .*got '16' \(str\)"),
    (
        "num_epochs 0",
        _replace(num_epochs=0),
        r"num_epochs: expected a whole number of at least 1, got 0 .*num_epochs=5",
    ),
    ("num_epochs -1", _replace(num_epochs=-1), r"num_epochs: .*got -1"),
    ("num_epochs a float", _replace(num_epochs=2.5), r"num_epochs: .*got 2\.5 \(float\)"),
    (
        "an empty X",
        lambda a: a | {"X": a["X"][:0], "y": a["y"][:0]},
        r"X, y: expected at least one example, got X of "
        r"shape \(0, 2\)",
    ),
    (
        "a model without parameters",
        lambda a: a | {"model": nn.Flatten()},
        r"model: expected a network with trainable "
        r"parameters, got Flatten with none; .*nn\.Linear",
    ),
    ("a frozen model", _frozen, r"model: .*requires_grad=False"),
    (
        "a function, not a model",
        _replace(model=lambda x: x),
        r"model: expected a torch\.nn\.Module, got function .*call",
    ),
    (
        "the optimizer of another model",
        lambda a: a | {"optimizer": torch.optim.SGD(nn.Linear(2, 2).parameters())},
        r"optimizer: it updates none of the model's parameters.*model\.parameters\(\)",
    ),
    ("not an optimizer", _replace(optimizer="adam"), r"optimizer: expected a torch\.optim optimizer.*got str"),
    ("a loss that is not a function", _replace(loss_fn="cross-entropy"), r"loss_fn: expected a loss function.*got str"),
    (
        "NaN in X",
        _with(X_at=(3, 1)),
        r"X: expected finite numbers, got 1 NaN or infinite values \(the first at "
        r"X\[3, 1\]\)",
    ),
    ("inf in X", _with(X_at=5, value=float("inf")), r"X: expected finite numbers, got 2 NaN or infinite .*X\[5, 0\]"),
    ("NaN in y", _with(y_at=(7, 0)), r"y: expected finite numbers, got 1 NaN .*y\[7, 0\]"),
    (
        "MSE with y (N,) and outputs (N, 1)",
        _regression((40,)),
        r"y: expected float targets of the outputs' shape; a "
        r"batch of 16 outputs has shape \(16, 1\), its y \(16,\)\. Use y\.unsqueeze\(1\).*\(16, 16\)",
    ),
    (
        "MSE with y (N, 1) and outputs (N,)",
        lambda a: _regression((40, 1))(a) | {"model": nn.Sequential(a["model"], nn.Flatten(0))},
        r"y: .*shape \(16,\), its y \(16, 1\)\. Use y\.squeeze\(1\)",
    ),
    ("MSE with two outputs per target", _regression((40, 1), model_outputs=2), r"y: .*one number per target"),
    (
        "int64 y of shape (N, 1)",
        lambda a: a | {"y": a["y"][:, None]},
        r"y: expected int64 class labels of shape "
        r"\(16,\) .*its y \(16, 1\); use y\.squeeze\(1\)",
    ),
    (
        "labels beyond the outputs",
        lambda a: a | {"y": a["y"] * 2},
        r"y: expected class labels from 0 to 1 for a model "
        r"with 2 outputs, got labels from 0 to 2",
    ),
    (
        "int64 y with MSELoss",
        _replace(loss_fn=nn.MSELoss()),
        r"y: got int64 class labels, but MSELoss .*"
        r"nn\.CrossEntropyLoss\(\).*y\.float\(\)",
    ),
    ("int32 labels", lambda a: a | {"y": a["y"].int()}, r"int64 class labels or float targets .*torch\.int32.*y\.long"),
    ("a scheduler that is not one", _replace(scheduler=0.5), r"scheduler: expected a learning-rate scheduler"),
    ("a transform that is not a function", _replace(transform="flip"), r"transform: expected a function"),
    (
        "NaN in X_val",
        lambda a: a | {"X_val": a["X"].clone().fill_(float("nan")), "y_val": a["y"]},
        r"X_val: expected "
        r"finite numbers",
    ),
    (
        "y_val unlike y",
        lambda a: a | {"X_val": a["X"], "y_val": a["y"][:, None]},
        r"y_val: expected examples like y's, "
        r"of shape \(\) and torch\.int64, got \(1,\)",
    ),
]


@pytest.mark.parametrize("change, match", [pytest.param(*row[1:], id=row[0]) for row in FIT_BAD_ARGUMENTS])
def test_fit_rejects_bad_arguments_before_any_step(change, match):
    args = change(_toy_fit_arguments())
    model = args["model"]
    before = [p.clone() for p in model.parameters()] if isinstance(model, nn.Module) else []
    with pytest.raises(ValueError, match=match):
        cu.fit(**({"batch_size": 16, "progress": False} | args))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters() if before else []))


@pytest.mark.parametrize("bad, kind", [(float("nan"), "nan"), (float("inf"), "inf")])
def test_a_nan_or_infinite_loss_stops_training_naming_the_epoch_and_step(bad, kind):
    calls = []

    def loss_fn(output, y):  # the seventh step's loss is not a number: epoch 3, step 1 of 3
        calls.append(1)
        loss = nn.functional.cross_entropy(output, y)
        return loss * bad if len(calls) == 7 else loss

    args = _toy_fit_arguments() | {"loss_fn": loss_fn}
    with pytest.raises(
        FloatingPointError,
        match=rf"loss became {kind} at epoch 3, step 1 of 3 \(step 7 overall\).*"
        r"Lower the learning rate",
    ) as raised:
        cu.fit(**args, num_epochs=5, batch_size=16, progress=False)
    assert len(raised.value.history.epochs) == 2 and len(raised.value.history.steps) == 9


def test_fit_waits_for_the_device_a_fixed_number_of_times_not_once_per_step(monkeypatch):
    """The checks happen once per call or per epoch: no `.item()` (or other wait) at every step."""
    waits = []
    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _f=original, **k: waits.append(1) or _f(self, *a, **k))
    counts = []
    for batch_size in (20, 2):  # 2 and 20 steps
        waits.clear()
        cu.fit(**_toy_fit_arguments(), batch_size=batch_size, progress=False)
        counts.append(len(waits))
    assert counts[0] == counts[1] and counts[0] < 10


PREDICT_BAD_ARGUMENTS = [
    ("batch_size 0", lambda m, X: cu.predict(m, X, batch_size=0), r"batch_size: expected a whole number of at least 1"),
    ("a list", lambda m, X: cu.predict(m, X.tolist()), r"X: expected a torch tensor, got list"),
    ("an empty X", lambda m, X: cu.predict(m, X[:0]), r"X: expected a float tensor of shape \(N, \.\.\.\) with N >= 1"),
    ("int64 images", lambda m, X: cu.predict(m, X.long()), r"X: .*got torch\.int64.*X\.float\(\)"),
    ("NaN in X", lambda m, X: cu.predict(m, X.clone().fill_(float("nan"))), r"X: expected finite numbers, got 80"),
    ("not a model", lambda m, X: cu.predict("model", X), r"model: expected a torch\.nn\.Module, got str"),
    ("labels of shape (N, 1)", lambda m, X: cu.evaluate(m, X, (X[:, 0] > 0).long()[:, None]), r"y\.squeeze\(1\)"),
    (
        "targets of shape (N,)",
        lambda m, X: cu.evaluate(nn.Linear(2, 1), X, X[:, 0], nn.MSELoss()),
        r"y\.unsqueeze\(1\)",
    ),
    ("labels beyond the outputs", lambda m, X: cu.evaluate(m, X, torch.full((40,), 3)), r"from 0 to 1 .*from 3 to 3"),
    ("bool labels", lambda m, X: cu.evaluate(m, X, X[:, 0] > 0), r"int64 class labels .*torch\.bool.*y\.long\(\)"),
    (
        "a loss that is not a function",
        lambda m, X: cu.evaluate(m, X, (X[:, 0] > 0).long(), "mse"),
        r"loss_fn: expected",
    ),
]


@pytest.mark.parametrize("call, match", [pytest.param(*row[1:], id=row[0]) for row in PREDICT_BAD_ARGUMENTS])
def test_predict_and_evaluate_reject_bad_arguments(call, match):
    args = _toy_fit_arguments()
    with pytest.raises(ValueError, match=match):
        call(args["model"], args["X"])


def test_predict_and_evaluate_accept_a_model_without_parameters():
    X = torch.randn(5, 3)
    torch.testing.assert_close(cu.predict(nn.Identity(), X), X)
    assert cu.evaluate(nn.Identity(), X, X.argmax(dim=1))["accuracy"] == 1.0
