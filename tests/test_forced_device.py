"""COURSE_DEVICE forces a device: training or evaluating a model elsewhere is an error.

This is what lets .github/workflows/gpu.yml fail when a chapter silently trains on the CPU. The
mismatch is checked before anything touches a GPU, so these tests run on a CPU-only machine.
"""

import pytest
import torch
from torch import nn

import course_utils as cu
from course_utils.repro import check_device


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
