"""A small, generic training loop over in-memory tensors.

Chapter 1 (`linear_models`) writes this loop by hand; from chapter 2 on the book calls `fit`.

Setting the environment variable ``COURSE_DEVICE`` (e.g. ``cuda``) makes `fit`, `evaluate` and
`predict` raise a `RuntimeError` when the model or a batch is on any other device, so a GPU run
cannot silently train on the CPU (see `repro.check_device`). Unset, nothing is checked.
"""

import itertools
import math
import numbers
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.std import tqdm  # the plain-text bar: clean in a terminal, in Jupyter and in the HTML book

from .repro import check_device

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class History:
    """What `fit` recorded.

    Attributes:
        steps: one dict per optimisation step: ``{"epoch", "loss"}`` and ``"accuracy"`` for
            classification.
        epochs: one dict per epoch: ``{"epoch", "seconds", "train_loss"}``, ``"train_accuracy"``
            for classification, and ``"val_loss"`` / ``"val_accuracy"`` when validation data
            was given.
        first_step_seconds: wall time of the very first step. On a GPU it includes one-off
            start-up work (loading kernels, initialising cuDNN and cuBLAS), so it is much
            longer than a typical step.
    """

    steps: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    first_step_seconds: float | None = None

    def column(self, key: str, per: str = "epoch") -> list:
        """One recorded quantity as a list, e.g. ``history.column("val_accuracy")``."""
        rows = self.epochs if per == "epoch" else self.steps
        if rows and key not in rows[0]:
            raise KeyError(f"{key!r} was not recorded; recorded per {per}: {sorted(rows[0])}")
        return [row[key] for row in rows]

    @property
    def seconds(self) -> float:
        """Total training time in seconds (evaluation excluded)."""
        return sum(row["seconds"] for row in self.epochs)


def check_xy(X: torch.Tensor, y: torch.Tensor, name: str = "X, y") -> None:
    """Raise a `ValueError` that names the problem unless ``X`` and ``y`` make a dataset.

    Checks the types, that the lengths agree and are not zero, the dtypes, and that neither holds
    NaN or infinite values.

    Args:
        X: float tensor of shape (N, ...), N >= 1.
        y: tensor of shape (N,) (int64 class labels) or (N, ...) (float targets).
        name: how the two are named in the message (e.g. ``"X_val, y_val"``).
    """
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(f"{name}: expected two torch tensors, got {type(X).__name__} and {type(y).__name__}")
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise ValueError(
            f"{name}: expected X of shape (N, ...) and y of shape (N, ...) with the same N, "
            f"got X {tuple(X.shape)} and y {tuple(y.shape)}"
        )
    if len(X) == 0:
        raise ValueError(f"{name}: expected at least one example, got X of shape {tuple(X.shape)}; is a slice empty?")
    if not X.is_floating_point():
        raise ValueError(f"{name}: expected a float X, got {X.dtype}; convert it with X.float()")
    if not (y.is_floating_point() or y.dtype == torch.int64):
        raise ValueError(
            f"{name}: expected int64 class labels or float targets for y, got {y.dtype}; "
            "convert it with y.long() (class labels) or y.float() (numbers)"
        )
    x_name, y_name = (part.strip() for part in name.split(",")) if "," in name else ("X", "y")
    _check_finite(X, x_name)
    _check_finite(y, y_name)


def _check_inputs(X: torch.Tensor) -> None:
    """Raise a `ValueError` unless ``X`` is a non-empty, finite float tensor of shape (N, ...)."""
    if not isinstance(X, torch.Tensor):
        raise ValueError(f"X: expected a torch tensor, got {type(X).__name__}; convert it with torch.as_tensor(X)")
    if X.ndim == 0 or len(X) == 0 or not X.is_floating_point():
        raise ValueError(
            f"X: expected a float tensor of shape (N, ...) with N >= 1, got {X.dtype} of shape {tuple(X.shape)}"
            + ("; convert it with X.float()" if X.ndim and len(X) and not X.is_floating_point() else "")
        )
    _check_finite(X, "X")


def _check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raise a `ValueError` if a float ``tensor`` holds NaN or infinite values (one sum, usually)."""
    if not tensor.is_floating_point() or torch.isfinite(tensor.sum()):  # a NaN or inf anywhere spoils the sum
        return
    bad = ~torch.isfinite(tensor)
    if bad.any():  # else the sum merely overflowed
        first = tuple(bad.nonzero()[0].tolist())
        raise ValueError(
            f"{name}: expected finite numbers, got {int(bad.sum())} NaN or infinite values (the first at "
            f"{name}[{', '.join(map(str, first))}]); find where they come from, or drop those examples "
            f"(keep = torch.isfinite({name}).reshape(len({name}), -1).all(dim=1))"
        )


def _check_like(other: torch.Tensor, reference: torch.Tensor, name: str, reference_name: str) -> None:
    """Raise a `ValueError` unless ``other``'s examples have the shape and dtype of ``reference``'s."""
    if other.shape[1:] != reference.shape[1:] or other.dtype != reference.dtype:
        raise ValueError(
            f"{name}: expected examples like {reference_name}'s, of shape {tuple(reference.shape[1:])} and "
            f"{reference.dtype}, got {tuple(other.shape[1:])} and {other.dtype}; prepare both the same way"
        )


def _check_count(value, name: str, example: str) -> None:
    """Raise a `ValueError` unless ``value`` is a whole number of at least 1 (bool excluded)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"{name}: expected a whole number of at least 1, got {value!r} ({type(value).__name__}); "
            f"pass e.g. {name}={example}"
        )


def _check_model(model, *, trainable: bool) -> None:
    """Raise a `ValueError` unless ``model`` is an `nn.Module` (with trainable parameters if asked)."""
    if not isinstance(model, torch.nn.Module):
        builder = " (a function that builds one? call it: model = make_model())" if callable(model) else ""
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}{builder}")
    if trainable and not any(p.requires_grad for p in model.parameters()):
        what = "parameters that all have requires_grad=False" if any(True for _ in model.parameters()) else "none"
        raise ValueError(
            f"model: expected a network with trainable parameters, got {type(model).__name__} with {what}; "
            "fit trains parameters, so give the model layers such as nn.Linear (and leave them trainable)"
        )


def _check_fit_arguments(model, loss_fn, optimizer, num_epochs, batch_size, scheduler, transform) -> None:
    _check_model(model, trainable=True)
    if not callable(loss_fn):
        raise ValueError(
            f"loss_fn: expected a loss function such as nn.CrossEntropyLoss(), got {type(loss_fn).__name__}"
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(
            f"optimizer: expected a torch.optim optimizer such as torch.optim.Adam(model.parameters()), "
            f"got {type(optimizer).__name__}"
        )
    ours = {id(p) for p in model.parameters()}
    if not any(id(p) in ours for group in optimizer.param_groups for p in group["params"]):
        raise ValueError(
            "optimizer: it updates none of the model's parameters, so training would change nothing; create it "
            "from this model after building it: optimizer = torch.optim.Adam(model.parameters(), lr=...)"
        )
    _check_count(num_epochs, "num_epochs", "5")
    _check_count(batch_size, "batch_size", "64")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise ValueError(f"scheduler: expected a learning-rate scheduler or None, got {type(scheduler).__name__}")
    if transform is not None and not callable(transform):
        raise ValueError(f"transform: expected a function of a batch of X, or None, got {type(transform).__name__}")


# Losses that compare outputs with float targets of the same shape, element by element.
_ELEMENTWISE_LOSSES = (
    torch.nn.MSELoss,
    torch.nn.L1Loss,
    torch.nn.SmoothL1Loss,
    torch.nn.HuberLoss,
    torch.nn.BCELoss,
    torch.nn.BCEWithLogitsLoss,
)


def _check_targets(output: torch.Tensor, y_batch: torch.Tensor, y: torch.Tensor, loss_fn=None, name: str = "y") -> None:
    """Raise a `ValueError` unless the targets fit the model's outputs (checked on one batch).

    Float targets must have the outputs' shape: a loss would otherwise broadcast, e.g. outputs
    (B, 1) against targets (B,) to (B, B), and train on the wrong thing without a word. Class
    labels (int64) must have shape (B,) for outputs (B, C) (or (B, d1, ...) for (B, C, d1, ...))
    and lie in 0 .. C-1.

    Args:
        output: the model's outputs for one batch, shape (B, ...).
        y_batch: that batch's targets, shape (B, ...).
        y: all the targets (for the message and the range of the labels), shape (N, ...).
        loss_fn: the loss, if any; int64 labels with an element-wise loss such as `nn.MSELoss` are
            an error.
        name: the targets' name in the message.
    """
    got = f"a batch of {len(y_batch)} outputs has shape {tuple(output.shape)}, its {name} {tuple(y_batch.shape)}"
    if y_batch.dtype != torch.int64:
        if output.shape != y_batch.shape:
            raise ValueError(
                f"{name}: expected float targets of the outputs' shape; {got}. {_reshape_fix(output, y_batch, name)}"
            )
        return
    if isinstance(loss_fn, _ELEMENTWISE_LOSSES):
        raise ValueError(
            f"{name}: got int64 class labels, but {type(loss_fn).__name__} compares outputs with float targets "
            f"of their shape; use nn.CrossEntropyLoss() for class labels, or {name}.float() for numbers"
        )
    wanted = (output.shape[0], *output.shape[2:])
    if output.ndim < 2 or tuple(y_batch.shape) != wanted:
        fix = (
            f"use {name}.squeeze(1) (or {name}.view(-1))" if y_batch.shape[1:] == (1,) else "give one label per example"
        )
        raise ValueError(
            f"{name}: expected int64 class labels of shape {wanted} (one per example) for outputs of shape "
            f"(B, num_classes); {got}; {fix}"
        )
    low, high = int(y.min()), int(y.max())  # one wait for the device, once per call
    if low < 0 or high >= output.shape[1]:
        raise ValueError(
            f"{name}: expected class labels from 0 to {output.shape[1] - 1} for a model with {output.shape[1]} "
            f"outputs, got labels from {low} to {high}; the model needs one output per class"
        )


def _reshape_fix(output: torch.Tensor, y_batch: torch.Tensor, name: str) -> str:
    if tuple(output.shape) == (*y_batch.shape, 1):
        return (
            f"Use {name}.unsqueeze(1) (or {name}.view(-1, 1)): the loss would broadcast {tuple(output.shape)} "
            f"against {tuple(y_batch.shape)} to a ({len(y_batch)}, {len(y_batch)}) grid and train on the wrong thing"
        )
    if tuple(y_batch.shape) == (*output.shape, 1):
        return f"Use {name}.squeeze(1) (or {name}.view(-1)) so that each output meets one target"
    return "Make the model output one number per target (e.g. nn.Linear(..., num_targets) as its last layer)"


class _DisplayWriter:
    """A file-like target for tqdm inside Jupyter: redraws one output in place.

    Writing to stdout would leave every redraw of the bar in a saved notebook (and in the book's
    HTML); updating a display instead leaves only the final state.
    """

    def __init__(self) -> None:
        self.handle = None

    def write(self, text: str) -> None:
        from IPython.display import display

        text = text.strip("\r\n")
        if not text:
            return
        if self.handle is None:
            self.handle = display({"text/plain": text}, raw=True, display_id=True)
        else:
            self.handle.update({"text/plain": text}, raw=True)

    def flush(self) -> None:
        pass


def _progress_file():
    """Where the progress bar goes: a display that updates in place in Jupyter, else stdout."""
    try:
        from IPython import get_ipython

        in_kernel = hasattr(get_ipython(), "kernel")
    except ImportError:
        in_kernel = False
    return _DisplayWriter() if in_kernel else sys.stdout


def _model_device(model: torch.nn.Module, X: torch.Tensor | None = None) -> torch.device:
    """Where ``model`` computes: the device of its first parameter or buffer, else that of ``X``."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return X.device if X is not None else torch.device("cpu")


def fit(
    model: torch.nn.Module,
    loss_fn: LossFunction,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    num_epochs: int = 1,
    batch_size: int = 64,
    *,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` with shuffled mini-batches; record losses (and accuracies) as it goes.

    Batches move to the model's device; put ``X`` there first to avoid the copy. The arguments
    are checked before the first step, and the targets against the model's outputs on the first
    batch; the step losses are checked for NaN or infinity at the end of every epoch (once per
    epoch, so that a GPU never waits for the CPU within an epoch).

    Args:
        model: the network; its output for a batch has shape (B, num_classes) for int64 labels,
            or the shape of the batch of ``y`` for float targets.
        loss_fn: e.g. ``nn.CrossEntropyLoss()`` for int64 labels or ``nn.MSELoss()``.
        optimizer: a `torch.optim` optimizer over ``model.parameters()``.
        X: float tensor of shape (N, ...), N >= 1, finite.
        y: int64 class labels of shape (N,), or float targets (N, ...) shaped like the outputs.
        num_epochs: passes over the data, an int >= 1.
        batch_size: examples per step, an int >= 1.
        X_val, y_val: optional validation data, evaluated after every epoch.
        scheduler: optional learning-rate scheduler, stepped after every batch.
        transform: optional function applied to each training batch of X (augmentation).
        progress: show a text progress bar.
    Returns:
        A `History` with per-step and per-epoch records.
    Raises:
        ValueError: an argument is not what `fit` needs; the message names it, says what was
            expected and what was given, and how to fix it.
        FloatingPointError: the loss became NaN or infinite; the message names the epoch and the
            step, and the exception's ``history`` attribute holds what was recorded until then.
        CourseEnvironmentError: ``COURSE_DEVICE`` is invalid, or forces a device the model or a
            batch is not on.
    """
    _check_fit_arguments(model, loss_fn, optimizer, num_epochs, batch_size, scheduler, transform)
    check_xy(X, y)
    if (X_val is None) != (y_val is None):
        raise ValueError("pass both X_val and y_val, or neither")
    if X_val is not None:
        check_xy(X_val, y_val, "X_val, y_val")
        _check_like(X_val, X, "X_val", "X")
        _check_like(y_val, y, "y_val", "y")
    device, history, n = _model_device(model), History(), len(X)
    check_device(model)  # with COURSE_DEVICE set, training elsewhere is an error
    num_batches = -(-n // batch_size)
    bar = tqdm(
        total=num_epochs * num_batches,
        disable=not progress,
        file=_progress_file(),
        mininterval=2.0,
        ncols=80,
        unit="step",
    )
    try:
        for epoch in range(1, num_epochs + 1):
            model.train()
            start, order = time.perf_counter(), torch.randperm(n, device=X.device)
            for i in range(0, n, batch_size):
                idx = order[i : i + batch_size]
                X_batch, y_batch = X[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
                targets = y if not history.steps else None  # checked against the outputs on the first batch
                history.steps.append(
                    _train_step(model, loss_fn, optimizer, X_batch, y_batch, epoch, transform, targets)
                )
                if scheduler is not None:
                    scheduler.step()
                if history.first_step_seconds is None:
                    _synchronize(device)
                    history.first_step_seconds = time.perf_counter() - start
                bar.update()
            _to_numbers(history.steps[-num_batches:])  # waits for the device to finish the epoch
            _check_losses(history, num_batches, epoch)
            row = {"epoch": epoch, "seconds": time.perf_counter() - start}
            row.update(_epoch_means(history.steps[-num_batches:]))
            if X_val is not None:
                row.update({f"val_{k}": v for k, v in evaluate(model, X_val, y_val, loss_fn).items()})
            history.epochs.append(row)
            bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k.endswith(("loss", "accuracy"))})
    finally:
        bar.close()
    return history


def _train_step(model, loss_fn, optimizer, X_batch, y_batch, epoch, transform, targets=None) -> dict:
    """One optimisation step; with ``targets`` (all of y), first check them against the outputs."""
    if transform is not None:
        X_batch = transform(X_batch)
    check_device(X_batch=X_batch, y_batch=y_batch)
    output = model(X_batch)
    if targets is not None:
        _check_targets(output, y_batch, targets, loss_fn)
    loss = loss_fn(output, y_batch)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    # Tensors, not numbers: `.item()` here would make the CPU wait for the GPU at every step.
    step = {"epoch": epoch, "loss": loss.detach(), "size": len(y_batch)}
    if y_batch.dtype == torch.int64:
        step["accuracy"] = (output.argmax(dim=1) == y_batch).float().mean()
    return step


def _to_numbers(steps: list) -> None:
    """Turn the steps' 0-d tensors into Python floats, in place, with one wait per quantity."""
    for key in ("loss", "accuracy"):
        if key in steps[0]:
            for step, value in zip(steps, torch.stack([s[key] for s in steps]).tolist()):
                step[key] = value


def _check_losses(history: History, num_batches: int, epoch: int) -> None:
    """Stop training with a `FloatingPointError` at the first NaN or infinite loss of the epoch."""
    steps = history.steps[-num_batches:]
    bad = next((i for i, step in enumerate(steps, start=1) if not math.isfinite(step["loss"])), None)
    if bad is None:
        return
    error = FloatingPointError(
        f"the training loss became {steps[bad - 1]['loss']} at epoch {epoch}, step {bad} of {num_batches} "
        f"(step {len(history.steps) - num_batches + bad} overall), so training stopped: the weights are no longer "
        "numbers. Lower the learning rate, check X and y for extreme values, or clip the gradients."
    )
    error.history = history
    raise error


def _synchronize(device: torch.device) -> None:
    """Wait until the device has finished its queued work (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _epoch_means(steps: list) -> dict:
    total = sum(s["size"] for s in steps)
    means = {"train_loss": sum(s["loss"] * s["size"] for s in steps) / total}
    if "accuracy" in steps[0]:
        means["train_accuracy"] = sum(s["accuracy"] * s["size"] for s in steps) / total
    return means


@torch.no_grad()
def predict(model: torch.nn.Module, X: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """The model's outputs for ``X`` in evaluation mode, batch by batch.

    Args:
        model: an `nn.Module` (a model without parameters computes where ``X`` is).
        X: float tensor of shape (N, ...), N >= 1, finite.
        batch_size: examples per forward pass, an int >= 1.
    Returns:
        The outputs concatenated, e.g. logits of shape (N, num_classes), on the model's device.
    Raises:
        ValueError: an argument is not what `predict` needs (the message says which, and how to fix it).
        CourseEnvironmentError: ``COURSE_DEVICE`` is invalid, or forces a device the model is not on.
    """
    _check_model(model, trainable=False)
    _check_inputs(X)
    _check_count(batch_size, "batch_size", "2000")
    check_device(model)  # batches go to the model's device, so this covers them
    was_training, device = model.training, _model_device(model, X)
    model.eval()
    try:
        return torch.cat([model(X[i : i + batch_size].to(device)) for i in range(0, len(X), batch_size)])
    finally:
        model.train(was_training)


def evaluate(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFunction | None = None,
    batch_size: int = 2000,
) -> dict:
    """Loss (if ``loss_fn`` is given) and, for int64 labels, accuracy of ``model`` on ``(X, y)``.

    Args:
        model: an `nn.Module`.
        X: float tensor of shape (N, ...), N >= 1, finite.
        y: int64 labels of shape (N,), or float targets (N, ...) shaped like the outputs.
        loss_fn: optional loss function, e.g. ``nn.CrossEntropyLoss()``.
        batch_size: examples per forward pass, an int >= 1.
    Returns:
        ``{"loss": float, "accuracy": float}`` with the entries that apply.
    Raises:
        ValueError: an argument is not what `evaluate` needs (the message says which, and how to fix it).
        CourseEnvironmentError: ``COURSE_DEVICE`` is invalid, or forces a device the model is not on.
    """
    check_xy(X, y)
    if loss_fn is not None and not callable(loss_fn):
        raise ValueError(f"loss_fn: expected a loss function or None, got {type(loss_fn).__name__}")
    output = predict(model, X, batch_size)
    y = y.to(output.device)
    if loss_fn is not None or y.dtype == torch.int64:
        _check_targets(output, y, y, loss_fn)
    result = {}
    if loss_fn is not None:
        result["loss"] = loss_fn(output, y).item()
    if y.dtype == torch.int64:
        result["accuracy"] = (output.argmax(dim=1) == y).float().mean().item()
    return result
