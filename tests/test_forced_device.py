"""COURSE_DEVICE forces a device: training or evaluating a model elsewhere is an error.

This is what lets .github/workflows/gpu.yml fail when a chapter silently trains on the CPU. The
mismatch is checked before anything touches a GPU, so these tests run on a CPU-only machine.
"""

import re

import pytest
import torch
from torch import nn

import course_utils as cu
from course_utils.repro import CourseEnvironmentError, check_device, forced_device


def _data_and_model():
    torch.manual_seed(0)
    X, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    return X, y, nn.Linear(3, 2)


def test_unset_means_no_constraint(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    check_device(nn.Linear(2, 2), batch=torch.zeros(1, device="meta"))


def test_forced_cpu_accepts_a_cpu_model(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    X, y, model = _data_and_model()
    history = cu.fit(
        model,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1),
        X,
        y,
        num_epochs=1,
        batch_size=16,
        progress=False,
    )
    assert len(history.epochs) == 1
    assert set(cu.evaluate(model, X, y)) == {"accuracy"}


@pytest.mark.parametrize("forced", ["cuda", "cuda:1"])
def test_forced_cuda_rejects_a_cpu_model(monkeypatch, forced):
    monkeypatch.setenv("COURSE_DEVICE", forced)
    X, y, model = _data_and_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(RuntimeError, match=r"COURSE_DEVICE='cuda.*', but the model's 'weight' is on cpu.*get_device"):
        cu.fit(model, nn.CrossEntropyLoss(), optimizer, X, y, num_epochs=1, progress=False)
    with pytest.raises(RuntimeError, match="the model's 'weight' is on cpu"):
        cu.evaluate(model, X, y)
    with pytest.raises(RuntimeError, match="the model's 'weight' is on cpu"):
        cu.predict(model, X)


def test_forced_cpu_rejects_a_batch_elsewhere(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    with pytest.raises(RuntimeError, match="'batch' is on meta"):
        check_device(batch=torch.zeros(1, device="meta"))


# --- a bad COURSE_DEVICE is an error that names the variable and its allowed values --------------


def _everything_that_reads_the_variable():
    X, y, model = _data_and_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return {
        "get_device": cu.get_device,
        "forced_device": forced_device,
        "check_device": lambda: check_device(model),
        "fit": lambda: cu.fit(model, nn.CrossEntropyLoss(), optimizer, X, y, progress=False),
        "evaluate": lambda: cu.evaluate(model, X, y),
        "predict": lambda: cu.predict(model, X),
    }


@pytest.mark.parametrize(
    "value, suggestion",
    [("banana", ""), (" CPU ", "Did you mean 'cpu'?"), ("CUDA", "Did you mean 'cuda'?"), ("cuda:x", ""), ("gpu", "")]
    + [("cpu:1", ""), (" ", "")],
)
def test_a_value_that_is_not_a_device_is_rejected_by_everything_that_reads_it(monkeypatch, value, suggestion):
    monkeypatch.setenv("COURSE_DEVICE", value)
    for name, call in _everything_that_reads_the_variable().items():
        with pytest.raises(CourseEnvironmentError) as raised:
            call()
        message = str(raised.value)
        assert message.startswith(f"COURSE_DEVICE={value!r} is not a device. Allowed values: 'cpu', 'cuda', "), name
        assert "'cuda:<index>'" in message and "'mps'" in message and suggestion in message and "unset" in message
    assert issubclass(CourseEnvironmentError, RuntimeError)


def test_an_empty_value_means_unset(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "")
    assert forced_device() is None
    assert cu.get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize(
    "value, gpus, mps, words",
    [
        ("cuda", 0, False, "COURSE_DEVICE='cuda' asks for a GPU, but PyTorch sees no CUDA device"),
        ("cuda:7", 0, False, "COURSE_DEVICE='cuda:7' asks for a GPU, but PyTorch sees no CUDA device"),
        ("cuda:7", 1, False, "COURSE_DEVICE='cuda:7' asks for GPU number 7, but this machine has 1 (cuda:0)"),
        ("cuda:2", 2, False, "asks for GPU number 2, but this machine has 2 (cuda:0 to cuda:1)"),
        ("mps", 0, False, "COURSE_DEVICE='mps' asks for Apple's GPU, but PyTorch sees no MPS device"),
    ],
)
def test_a_device_this_machine_lacks_is_named_with_the_fix(monkeypatch, value, gpus, mps, words):
    """Machines are emulated: what PyTorch reports about CUDA and MPS is patched."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setenv("COURSE_DEVICE", value)
    with pytest.raises(CourseEnvironmentError, match=re.escape(words) + r".*Unset COURSE_DEVICE.*'cpu'"):
        cu.get_device()
    for name, call in _everything_that_reads_the_variable().items():
        if name in ("fit", "evaluate", "predict", "check_device"):  # the model is on the CPU, not there
            with pytest.raises(
                CourseEnvironmentError, match=r"but the model's 'weight' is on cpu.*But note: .*" + re.escape(words)
            ):
                call()


def test_available_devices_are_accepted(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for value in ("cuda", "cuda:0", "cuda:1"):
        monkeypatch.setenv("COURSE_DEVICE", value)
        assert cu.get_device() == torch.device(value)
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert cu.get_device() == torch.device("cpu")
