"""Reproducibility and device choice.

Introduced in chapter 1 (`linear_models`); every chapter calls `set_seed` once at the top.
"""

import os
import random

import numpy as np
import torch

DEVICE_ENV_VAR = "COURSE_DEVICE"


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch so that a notebook gives the same numbers on every run.

    Also asks cuDNN for deterministic convolution algorithms, which costs little here.

    Args:
        seed: any non-negative integer.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds the CPU and every CUDA device
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def get_device() -> torch.device:
    """The device to compute on: CUDA when available, else the CPU.

    Set the environment variable ``COURSE_DEVICE`` (``cpu``, ``cuda`` or ``cuda:1``) to force one.

    Raises:
        RuntimeError: ``COURSE_DEVICE`` asks for CUDA but no CUDA device is available.
    """
    wanted = os.environ.get(DEVICE_ENV_VAR, "").strip()
    if not wanted:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(wanted)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"{DEVICE_ENV_VAR}={wanted!r} asks for a GPU, but PyTorch sees no CUDA device. "
            f"Unset {DEVICE_ENV_VAR} to run on the CPU, or install a CUDA build of PyTorch."
        )
    return device


def forced_device() -> torch.device | None:
    """The device that ``$COURSE_DEVICE`` forces (``cpu``, ``cuda``, ``cuda:1``), or None."""
    wanted = os.environ.get(DEVICE_ENV_VAR, "").strip()
    return torch.device(wanted) if wanted else None


def check_device(model: torch.nn.Module | None = None, **tensors: torch.Tensor) -> None:
    """Raise unless the model and ``tensors`` are on the device that ``COURSE_DEVICE`` forces.

    `fit`, `evaluate` and `predict` call it, so a run with ``COURSE_DEVICE=cuda`` (the GPU
    workflow, the benchmark) fails when a chapter trains or evaluates on the CPU by mistake.
    Unset, it checks nothing.

    Args:
        model: an `nn.Module`; all its parameters and buffers are checked.
        tensors: named tensors, e.g. ``X_batch=X_batch``; the names appear in the message.
    Raises:
        RuntimeError: something is elsewhere (``cuda`` accepts any GPU, ``cuda:1`` only that one).
    """
    required = forced_device()
    if required is None:
        return
    named = (
        {f"the model's {name!r}": t for name, t in [*model.named_parameters(), *model.named_buffers()]}
        if model is not None
        else {}
    )
    named.update({repr(name): t for name, t in tensors.items()})
    for name, tensor in named.items():
        device = tensor.device
        same_index = None in (required.index, device.index) or required.index == device.index
        if device.type != required.type or not same_index:
            raise RuntimeError(
                f"{DEVICE_ENV_VAR}={str(required)!r}, but {name} is on {device}. Move the model with "
                "model.to(device) and the data with X.to(device), where device = cu.get_device()."
            )
