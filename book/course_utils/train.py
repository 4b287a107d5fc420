"""A small, generic training loop over in-memory tensors.

Chapter 1 (`linear_models`) writes this loop by hand; from chapter 2 on the book calls `fit`.

Setting the environment variable ``COURSE_DEVICE`` (e.g. ``cuda``) makes `fit`, `evaluate` and
`predict` raise a `RuntimeError` when the model or a batch is on any other device, so a GPU run
cannot silently train on the CPU (see `repro.check_device`). Unset, nothing is checked.
"""

import sys
import time
from dataclasses import dataclass, field

import torch
from tqdm.std import tqdm  # the plain-text bar: clean in a terminal, in Jupyter and in the HTML book

from .repro import check_device


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
    """Raise a `ValueError` that names the shapes unless ``X`` and ``y`` make a dataset.

    Args:
        X: float tensor of shape (N, ...).
        y: tensor of shape (N,) (int64 class labels) or (N, ...) (float targets).
    """
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(f"{name}: expected two torch tensors, got {type(X).__name__} and {type(y).__name__}")
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise ValueError(
            f"{name}: expected X of shape (N, ...) and y of shape (N, ...) with the same N, "
            f"got X {tuple(X.shape)} and y {tuple(y.shape)}"
        )
    if not X.is_floating_point():
        raise ValueError(f"{name}: expected a float X, got {X.dtype}; convert it with X.float()")
    if not (y.is_floating_point() or y.dtype == torch.int64):
        raise ValueError(f"{name}: expected int64 class labels or float targets for y, got {y.dtype}")


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


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def fit(
    model,
    loss_fn,
    optimizer,
    X,
    y,
    num_epochs=1,
    batch_size=64,
    *,
    X_val=None,
    y_val=None,
    scheduler=None,
    transform=None,
    progress=True,
) -> History:
    """Train ``model`` with shuffled mini-batches; record losses (and accuracies) as it goes.

    Batches move to the model's device; put ``X`` there first to avoid the copy.

    Args:
        model: the network; its output for a batch has shape (B, num_classes) or like ``y``.
        loss_fn: e.g. ``nn.CrossEntropyLoss()`` for int64 labels or ``nn.MSELoss()``.
        optimizer: a `torch.optim` optimizer over ``model.parameters()``.
        X: float tensor of shape (N, ...); y: labels (N,) int64 or targets (N, ...) float.
        num_epochs: passes over the data.
        batch_size: examples per step.
        X_val, y_val: optional validation data, evaluated after every epoch.
        scheduler: optional learning-rate scheduler, stepped after every batch.
        transform: optional function applied to each training batch of X (augmentation).
        progress: show a text progress bar.
    Returns:
        A `History` with per-step and per-epoch records.
    """
    check_xy(X, y)
    if (X_val is None) != (y_val is None):
        raise ValueError("pass both X_val and y_val, or neither")
    if X_val is not None:
        check_xy(X_val, y_val, "X_val, y_val")
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
    for epoch in range(1, num_epochs + 1):
        model.train()
        start, order = time.perf_counter(), torch.randperm(n, device=X.device)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            X_batch, y_batch = X[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
            history.steps.append(_train_step(model, loss_fn, optimizer, X_batch, y_batch, epoch, transform))
            if scheduler is not None:
                scheduler.step()
            if history.first_step_seconds is None:
                _synchronize(device)
                history.first_step_seconds = time.perf_counter() - start
            bar.update()
        _to_numbers(history.steps[-num_batches:])  # waits for the device to finish the epoch
        row = {"epoch": epoch, "seconds": time.perf_counter() - start}
        row.update(_epoch_means(history.steps[-num_batches:]))
        if X_val is not None:
            row.update({f"val_{k}": v for k, v in evaluate(model, X_val, y_val, loss_fn).items()})
        history.epochs.append(row)
        bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k.endswith(("loss", "accuracy"))})
    bar.close()
    return history


def _train_step(model, loss_fn, optimizer, X_batch, y_batch, epoch, transform) -> dict:
    if transform is not None:
        X_batch = transform(X_batch)
    check_device(X_batch=X_batch, y_batch=y_batch)
    output = model(X_batch)
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
def predict(model, X, batch_size: int = 2000) -> torch.Tensor:
    """The model's outputs for ``X`` in evaluation mode, batch by batch.

    Args:
        X: float tensor of shape (N, ...).
    Returns:
        The outputs concatenated, e.g. logits of shape (N, num_classes), on the model's device.
    """
    check_device(model)  # batches go to the model's device, so this covers them
    was_training, device = model.training, _model_device(model)
    model.eval()
    outputs = torch.cat([model(X[i : i + batch_size].to(device)) for i in range(0, len(X), batch_size)])
    model.train(was_training)
    return outputs


def evaluate(model, X, y, loss_fn=None, batch_size: int = 2000) -> dict:
    """Loss (if ``loss_fn`` is given) and, for int64 labels, accuracy of ``model`` on ``(X, y)``.

    Args:
        X: float tensor of shape (N, ...); y: int64 labels (N,) or float targets (N, ...).
    Returns:
        ``{"loss": float, "accuracy": float}`` with the entries that apply.
    """
    check_xy(X, y)
    output, y = predict(model, X, batch_size), y.to(_model_device(model))
    result = {}
    if loss_fn is not None:
        result["loss"] = loss_fn(output, y).item()
    if y.dtype == torch.int64:
        result["accuracy"] = (output.argmax(dim=1) == y).float().mean().item()
    return result
