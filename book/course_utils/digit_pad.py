"""Draw a digit: the chapter's trained CNN running in the book's page, on what the reader draws.

`digit_pad` exports the model to ONNX (``torch.onnx``) and embeds it in the page with a drawing
canvas; the page runs it with ONNX Runtime Web (served by the book itself) after preparing the
drawing the way MNIST's digits were made (`web/digit_pad.js`): the bounding box of the ink scaled to
fit 20x20 pixels, placed in a 28x28 frame with its centre of mass at pixel (14, 14), then
standardised like the training images. The page shows the ten class probabilities and the feature
maps of the first convolution. Outside the book (Jupyter, Colab) the output shows a static picture.

Introduced in chapter 5 (`cnns`).
"""

import base64
import contextlib
import copy
import html
import io
import json
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from torch import nn

from .data import MNIST_MEAN, MNIST_STD
from .plot import STYLE


class _PadModel(nn.Module):
    """The chapter's model with the outputs the page shows: probabilities and first feature maps."""

    def __init__(self, model: nn.Sequential, first_maps: int) -> None:
        super().__init__()
        self.model, self.first_maps = model, first_maps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.softmax(self.model(x), dim=1), self.model[: self.first_maps](x)


def _first_maps_end(model: nn.Sequential) -> int:
    """How many leading layers give the first convolution's feature maps (after its activation)."""
    convs = [i for i, layer in enumerate(model) if isinstance(layer, nn.Conv2d)]
    if not convs:
        raise ValueError("digit_pad() needs a CNN: the model has no nn.Conv2d layer")
    end = convs[0] + 1
    activations = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Tanh, nn.Sigmoid)
    return end + 1 if end < len(model) and isinstance(model[end], activations) else end


def export_onnx(model: nn.Module) -> bytes:
    """The model as ONNX bytes: input ``image`` (1, 1, 28, 28) standardised, outputs
    ``probabilities`` (1, 10) and ``feature_maps`` (1, C, H, W) of the first convolution.

    Args:
        model: an `nn.Sequential` CNN for MNIST (standardised images in, 10 logits out).
    Raises:
        ValueError: the model is not an `nn.Sequential` with an `nn.Conv2d`.
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"digit_pad() needs an nn.Sequential model, got {type(model).__name__}")
    pad_model = _PadModel(
        copy.deepcopy(model).to("cpu", torch.float32, memory_format=torch.contiguous_format), _first_maps_end(model)
    ).eval()
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter reports its progress on stdout
        program = torch.onnx.export(
            pad_model,
            (torch.zeros(1, 1, 28, 28),),
            dynamo=True,
            verbose=False,
            input_names=["image"],
            output_names=["probabilities", "feature_maps"],
        )
    return program.model_proto.SerializeToString()


@dataclass
class DigitPad:
    """The drawing pad's output: the model (ONNX), example digits and a static picture."""

    onnx: bytes
    examples: list  # uint8 pixel lists (784 values), shown by "Show a test digit"
    labels: list
    picture: bytes  # PNG: what the page shows without the live model

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        png = base64.b64encode(self.picture).decode("ascii")
        return {"text/html": self._html(png), "image/png": png, "text/plain": "A digit drawing pad (book only)."}

    def _html(self, png: str) -> str:
        config = {
            "model": base64.b64encode(self.onnx).decode("ascii"),
            "mean": MNIST_MEAN,
            "std": MNIST_STD,
            "examples": self.examples,
            "labels": self.labels,
        }
        alt = "A test digit, the CNN's ten class probabilities for it, and feature maps of its first convolution."
        return (
            f'<div class="course-digit-pad"><div class="course-digit-pad-static">'
            f'<img src="data:image/png;base64,{png}" alt="{html.escape(alt)}">'
            '<p class="course-digit-pad-note">On the book\'s web page you can draw a digit here and watch the '
            "network classify it.</p></div>"
            f'<script type="application/json" class="course-digit-pad-config">{json.dumps(config)}</script></div>'
        )


def _picture(model: nn.Module, image: torch.Tensor, label: int) -> bytes:
    """A PNG of one test digit, the model's probabilities and its first feature maps."""
    pad_model = _PadModel(copy.deepcopy(model).cpu().float(), _first_maps_end(model)).eval()
    with torch.no_grad():
        probabilities, maps = (t[0].numpy() for t in pad_model(image.cpu().float()[None]))
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(9, 3))
        grid = fig.add_gridspec(2, 10)
        ax = fig.add_subplot(grid[:, :2])
        ax.imshow(image[0].cpu().numpy(), cmap="gray_r")
        ax.set(title=f"a test digit ({label})", xticks=[], yticks=[])
        ax = fig.add_subplot(grid[:, 2:5])
        ax.barh(range(10), probabilities, color="#0072B2")
        ax.set(yticks=range(10), xlim=(0, 1), xlabel="probability", title="the CNN's answer")
        ax.invert_yaxis()
        for k in range(min(10, len(maps))):
            ax = fig.add_subplot(grid[k // 5, 5 + k % 5])
            ax.imshow(maps[k], cmap="gray")
            ax.axis("off")
        fig.suptitle("first convolution's feature maps", x=0.75, y=0.98, fontsize=10)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
    return buffer.getvalue()


def digit_pad(model: nn.Module, examples: torch.Tensor, labels: torch.Tensor):
    """A canvas in the book's page where the reader draws a digit and the trained CNN reads it.

    Args:
        model: the trained CNN, an `nn.Sequential` mapping standardised images (N, 1, 28, 28) to
            logits (N, 10); it is copied, not changed.
        examples: a few standardised test images (K, 1, 28, 28), offered by a "Show a test digit"
            button (and used for the static picture).
        labels: their labels, int64 tensor of shape (K,).
    Returns:
        A `DigitPad` to display; without ``onnx`` installed, a note that the pad runs in the book.
    """
    if examples.ndim != 4 or tuple(examples.shape[1:]) != (1, 28, 28) or len(examples) != len(labels):
        raise ValueError(
            f"expected examples of shape (K, 1, 28, 28) and K labels, got {tuple(examples.shape)} "
            f"and {len(labels)} labels"
        )
    try:
        onnx_bytes = export_onnx(model)
    except ImportError:
        from IPython.display import Markdown

        return Markdown("*The draw-a-digit pad needs the `onnx` package; it runs on the book's web page.*")
    pixels = ((examples.cpu() * MNIST_STD + MNIST_MEAN) * 255).round().clamp(0, 255).to(torch.uint8)
    return DigitPad(
        onnx_bytes,
        pixels.reshape(len(pixels), -1).tolist(),
        labels.cpu().tolist(),
        _picture(model, examples[0], int(labels[0])),
    )
