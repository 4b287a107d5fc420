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


def check_device(device: torch.device, what: str = "the model") -> None:
    """Raise unless ``device`` is the kind that ``COURSE_DEVICE`` forces, when it forces one.

    `fit`, `evaluate` and `predict` call it with the model's device, so a run with
    ``COURSE_DEVICE=cuda`` (the GPU workflow) fails if a chapter trains on the CPU by mistake.

    Raises:
        RuntimeError: ``COURSE_DEVICE`` is set and ``device`` is of another type (cpu vs cuda).
    """
    wanted = os.environ.get(DEVICE_ENV_VAR, "").strip()
    if wanted and torch.device(wanted).type != torch.device(device).type:
        raise RuntimeError(
            f"{DEVICE_ENV_VAR}={wanted!r}, but {what} is on {device}. "
            "Move it there first: model.to(cu.get_device())."
        )
