"""The book's plots: one house style, readable in light and dark themes, colour-blind safe.

Call `set_style()` once at the top of a chapter; the helpers below use the style either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from .train import History

# Okabe & Ito's palette, distinguishable with the common colour-vision deficiencies.
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

STYLE = {
    "figure.facecolor": "white",  # opaque, so a figure stays readable on the dark theme
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "axes.facecolor": "white",
    "axes.prop_cycle": plt.cycler(color=COLORS),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "font.size": 11,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def set_style() -> None:
    """Apply the house style to every figure made after this call."""
    plt.rcParams.update(STYLE)


def plot_history(
    history: History,
    keys: Sequence[str] = ("train_loss", "val_loss"),
    ax: Axes | None = None,
    title: str | None = None,
    ylabel: str | None = None,
    logy: bool = False,
) -> Axes:
    """Plot per-epoch curves recorded by `fit`, e.g. training and validation loss.

    Args:
        history: a `History` from `fit`.
        keys: the per-epoch quantities to draw (those not recorded are skipped).
        ax: axes to draw on; a new figure when None.
    Returns:
        The matplotlib axes.
    """
    with plt.rc_context(STYLE):
        ax = ax or plt.figure().gca()
        epochs = history.column("epoch")
        for key in keys:
            if key in history.epochs[0]:
                ax.plot(epochs, history.column(key), marker="o", label=key.replace("_", " "))
        ax.set(xlabel="epoch", ylabel=ylabel or "value", title=title)
        ax.set_yscale("log" if logy else "linear")
        ax.legend()
    return ax


def plot_losses(
    curves: dict[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]],
    xlabel: str = "step",
    ylabel: str = "loss",
    ax: Axes | None = None,
    title: str | None = None,
    logy: bool = True,
) -> Axes:
    """Plot several loss curves against step (or epoch, or seconds).

    Args:
        curves: label -> sequence of losses, or label -> (x values, losses).
    Returns:
        The matplotlib axes.
    """
    with plt.rc_context(STYLE):
        ax = ax or plt.figure().gca()
        for label, curve in curves.items():
            xs, ys = curve if isinstance(curve, tuple) else (np.arange(1, len(curve) + 1), curve)
            ax.plot(xs, ys, label=label)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
        ax.set_yscale("log" if logy else "linear")
        ax.legend()
    return ax


def show_digits(
    images: torch.Tensor | np.ndarray,
    labels: Sequence[int] | torch.Tensor | np.ndarray | None = None,
    predictions: Sequence[int] | torch.Tensor | np.ndarray | None = None,
    confidences: Sequence[float] | torch.Tensor | np.ndarray | None = None,
    ncols: int = 8,
    title: str | None = None,
) -> Figure:
    """A grid of digit images captioned with labels (and predictions, shown red when wrong).

    Args:
        images: tensor or array of shape (N, 28, 28), (N, 1, 28, 28) or (N, H, W).
        labels: optional true labels, shape (N,).
        predictions: optional predicted labels, shape (N,).
        confidences: optional probabilities of the predictions, shape (N,).
    Returns:
        The matplotlib figure.
    """
    images = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (N, H, W) or (N, 1, H, W), got {images.shape}")
    n = len(images)
    nrows = -(-n // ncols)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(1.2 * ncols, 1.45 * nrows), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < n:
                ax.imshow(images[i], cmap="gray_r")
                ax.set_title(
                    _caption(i, labels, predictions, confidences),
                    fontsize=9,
                    color=_caption_color(i, labels, predictions),
                )
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def _caption(i, labels, predictions, confidences) -> str:
    parts = []
    if labels is not None:
        parts.append(f"true {int(labels[i])}")
    if predictions is not None:
        parts.append(f"pred {int(predictions[i])}")
    if confidences is not None:
        parts.append(f"{float(confidences[i]):.0%}")
    return " ".join(parts[:2]) + ("\n" + parts[2] if len(parts) > 2 else "")


def _caption_color(i, labels, predictions) -> str:
    wrong = labels is not None and predictions is not None and int(labels[i]) != int(predictions[i])
    return COLORS[3] if wrong else "black"
