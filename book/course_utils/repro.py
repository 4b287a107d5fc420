"""Reproducibility and device choice.

Introduced in chapter 1 (`linear_models`); every chapter calls `set_seed` once at the top.

The environment variable ``COURSE_DEVICE`` forces a device: ``cpu``, ``cuda``, ``cuda:<index>`` or
``mps``, written exactly so (lower case, no spaces); unset or empty, `get_device` chooses. Every
function that reads it (`get_device`, `forced_device`, `check_device`, and so `fit`, `evaluate`
and `predict`) rejects any other value with a `CourseEnvironmentError` that names the variable and
its allowed values.
"""

import os
import random
import re

import numpy as np
import torch

DEVICE_ENV_VAR = "COURSE_DEVICE"
ALLOWED_DEVICES = "'cpu', 'cuda', 'cuda:<index>' (one GPU, numbered from 0) or 'mps' (Apple GPUs)"
_DEVICE_VALUE = re.compile(r"(cpu|mps)(:0)?|cuda(:\d+)?")


class CourseEnvironmentError(RuntimeError):
    """The environment stops the course's code: a setting such as ``COURSE_DEVICE``, or a missing file.

    Not a mistake in the code that was run; the message names the setting or file and how to fix it.
    """


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


def forced_device() -> torch.device | None:
    """The device that ``$COURSE_DEVICE`` forces (``cpu``, ``cuda``, ``cuda:1``, ``mps``), or None.

    Raises:
        CourseEnvironmentError: ``COURSE_DEVICE`` is set to something else (``banana``, `` CPU ``).
    """
    wanted = os.environ.get(DEVICE_ENV_VAR, "")
    if not wanted:
        return None
    if not _DEVICE_VALUE.fullmatch(wanted):
        cleaned = wanted.strip().lower()
        suggestion = f" Did you mean {cleaned!r}?" if _DEVICE_VALUE.fullmatch(cleaned) else ""
        raise CourseEnvironmentError(
            f"{DEVICE_ENV_VAR}={wanted!r} is not a device. Allowed values: {ALLOWED_DEVICES}, written "
            f"exactly so (lower case, no spaces), or unset to let the course choose.{suggestion} "
            f"Fix it where it is set (e.g. `export {DEVICE_ENV_VAR}=cpu` in the shell, or "
            f"os.environ[{DEVICE_ENV_VAR!r}] = 'cpu' in Python), or unset it."
        )
    return torch.device(wanted)


def _why_unavailable(device: torch.device) -> tuple[str, str] | None:
    """``(why, what else to try)`` if this machine cannot compute on ``device``, else None."""
    if device.type == "cuda" and not torch.cuda.is_available():
        return (
            "asks for a GPU, but PyTorch sees no CUDA device",
            "a GPU needs a machine with one and a CUDA build of PyTorch",
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        names = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        return f"asks for GPU number {device.index}, but this machine has {count} ({names})", f"or use {names}"
    if device.type == "mps" and not torch.backends.mps.is_available():
        return "asks for Apple's GPU, but PyTorch sees no MPS device", "MPS needs a Mac with Apple silicon"
    return None


def _unavailable_message(device: torch.device) -> str | None:
    unavailable = _why_unavailable(device)
    if unavailable is None:
        return None
    return (
        f"{DEVICE_ENV_VAR}={os.environ[DEVICE_ENV_VAR]!r} {unavailable[0]}. Unset {DEVICE_ENV_VAR} to run on "
        f"what this machine has, or set it to 'cpu' ({unavailable[1]}; allowed values: {ALLOWED_DEVICES})."
    )


def get_device() -> torch.device:
    """The device to compute on: CUDA when available, else the CPU.

    Set the environment variable ``COURSE_DEVICE`` (``cpu``, ``cuda``, ``cuda:1`` or ``mps``) to
    force one.

    Raises:
        CourseEnvironmentError: ``COURSE_DEVICE`` is not an allowed value, or asks for a device
            this machine does not have (CUDA without a GPU, ``cuda:7`` with one GPU, MPS off a Mac).
    """
    device = forced_device()
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    message = _unavailable_message(device)
    if message:
        raise CourseEnvironmentError(message)
    return device


def check_device(model: torch.nn.Module | None = None, **tensors: torch.Tensor) -> None:
    """Raise unless the model and ``tensors`` are on the device that ``COURSE_DEVICE`` forces.

    `fit`, `evaluate` and `predict` call it, so a run with ``COURSE_DEVICE=cuda`` (the GPU
    workflow, the benchmark) fails when a chapter trains or evaluates on the CPU by mistake.
    Unset, it checks nothing.

    Args:
        model: an `nn.Module`; all its parameters and buffers are checked.
        tensors: named tensors, e.g. ``X_batch=X_batch``; the names appear in the message.
    Raises:
        CourseEnvironmentError: ``COURSE_DEVICE`` is not an allowed value, or something is
            elsewhere (``cuda`` accepts any GPU, ``cuda:1`` only that one); the message also says
            when the forced device does not exist on this machine.
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
            unavailable = _unavailable_message(required)
            raise CourseEnvironmentError(
                f"{DEVICE_ENV_VAR}={str(required)!r}, but {name} is on {device}. Move the model with "
                "model.to(device) and the data with X.to(device), where device = cu.get_device()."
                + (f" But note: {unavailable}" if unavailable else "")
            )
