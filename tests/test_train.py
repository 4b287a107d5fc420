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
