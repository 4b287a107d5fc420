"""Self-checks for chapter 5, `cnns` (convolutional networks)."""

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..train import evaluate
from . import CheckFailed, CheckMisused, as_tensor, self_check

# Exercise 5.3: the budget and the target the small CNN must meet.
SMALL_CNN_MAX_PARAMS = 8_000
SMALL_CNN_MIN_ACCURACY = 0.985


def _conv_reference(X: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int, padding: int) -> torch.Tensor:
    X, W, b = (torch.as_tensor(a, dtype=torch.float64) for a in (X, W, b))
    return F.conv2d(X[None], W, b, stride=stride, padding=padding)[0]


def _conv_cases():
    """(X, W, b, stride, padding) cases: one simple, then random shapes, strides and paddings."""
    rng = np.random.default_rng(5)
    cases = [(np.arange(16.0).reshape(1, 4, 4), np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), np.array([0.5]), 1, 0)]
    for C, K, H, W_, F_, stride, padding in [
        (1, 3, 5, 5, 2, 2, 1),
        (3, 4, 7, 9, 3, 1, 1),
        (2, 5, 8, 6, 3, 2, 0),
        (2, 2, 9, 11, 4, 3, 2),
    ]:
        cases.append(
            (rng.normal(size=(C, H, W_)), rng.normal(size=(K, C, F_, F_)), rng.normal(size=K), stride, padding)
        )
    return cases


def _conv_mistake(X: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int, padding: int, answer: torch.Tensor) -> str:
    """A hint naming the likely mistake when ``answer`` matches a classic wrong convolution."""
    wrong = {
        "the kernel is flipped: deep-learning 'convolution' slides the filter as it is (no flip).": _conv_reference(
            X, W[:, :, ::-1, ::-1].copy(), b, stride, padding
        ),
        "the bias is missing: add b[k] to every output of filter k.": _conv_reference(
            X, W, np.zeros_like(b), stride, padding
        ),
        "every output channel uses the first filter: use W[k] for output channel k.": _conv_reference(
            X, np.repeat(W[:1], len(W), axis=0), b, stride, padding
        ),
    }
    for hint, value in wrong.items():
        if value.shape == answer.shape and torch.allclose(answer, value, atol=1e-6):
            return hint
    return (
        "build the matrix of patches of shape (C*F*F, H_out*W_out), multiply by W reshaped to "
        "(K, C*F*F), add b and reshape to (K, H_out, W_out)."
    )


@self_check(
    "Exercise 5.1 (convolution as one matrix multiplication)",
    usage="cu.check_conv2d_matmul(conv2d_matmul)",
    answer="function",
    call="conv2d_matmul(X, W, b, stride, padding)",
)
def check_conv2d_matmul(conv_fn: Callable) -> None:
    """``conv_fn(X, W, b, stride, padding)`` must compute what `F.conv2d` computes for one image.

    Args:
        conv_fn: function of a NumPy array ``X`` of shape (C, H, W), filters ``W`` of shape
            (K, C, F, F), biases ``b`` of shape (K,), ints ``stride`` and ``padding``; returns an
            array or tensor of shape (K, H_out, W_out).
    """
    for X, W, b, stride, padding in _conv_cases():
        expected = _conv_reference(X, W, b, stride, padding)
        where = f"for X of shape {X.shape}, {len(W)} filters of size {W.shape[-1]}, stride {stride}, padding {padding}"
        answer = conv_fn(X, W, b, stride, padding)
        if answer is None:
            raise CheckFailed("your function returned None: return the output array.")
        answer = as_tensor(answer, "the output")
        if tuple(answer.shape) != tuple(expected.shape):
            raise CheckFailed(
                f"the output should have shape {tuple(expected.shape)} {where}, got {tuple(answer.shape)}.",
                "use H_out = (H - F + 2P) // S + 1, and the same for the width.",
            )
        if not torch.allclose(answer, expected, rtol=1e-5, atol=1e-6):
            raise CheckFailed(
                f"the output values are not right {where}.", _conv_mistake(X, W, b, stride, padding, answer)
            )


def exercise_network() -> nn.Sequential:
    """The network of exercise 5.2, for 3-channel 32x48 images (the check's reference)."""
    conv_part = nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3),
        nn.ReLU(),
    )
    num_features = conv_part(torch.zeros(1, 3, 32, 48)).numel()
    return nn.Sequential(*conv_part, nn.Flatten(), nn.Linear(num_features, 10))


def _as_shape(shape) -> tuple[int, int, int]:
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    if not isinstance(shape, (tuple, list)) or len(shape) != 3:
        raise CheckFailed(f"`shape` should be a tuple of three ints (channels, height, width), got {shape!r}.")
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape):
        raise CheckFailed(
            f"`shape` should hold three whole numbers, got {shape!r}.",
            "sizes are whole numbers: the formula rounds (H - F + 2P) / S down.",
        )
    return tuple(int(s) for s in shape)


def _feature_shape(rounding=np.floor) -> tuple[int, int, int]:
    """The shape before `nn.Flatten` of `exercise_network`, by the size formula with ``rounding``."""
    size = lambda n, f, s=1, p=0: int(rounding((n - f + 2 * p) / s)) + 1
    h, w = (size(n, 5, p=2) for n in (32, 48))
    h, w = (size(int(rounding(n / 2)), 3, 2, 1) for n in (h, w))
    h, w = (size(int(rounding(n / 2)), 3) for n in (h, w))
    return 64, h, w


def _shape_hint(shape: tuple, expected: tuple) -> str:
    if shape[0] != expected[0]:
        return "a convolution outputs one channel per filter: out_channels of the last Conv2d."
    if shape == (expected[0], expected[2], expected[1]):
        return "height and width are swapped: PyTorch's order is (C, H, W), and these images are 32 high, 48 wide."
    if shape == _feature_shape(np.ceil):
        return "sizes are rounded down: (H - F + 2P) // S + 1, and a 2x2 max-pool halves each size rounding down."
    return (
        "apply (H - F + 2P) // S + 1 layer by layer, to the height and the width "
        "separately; a 2x2 max-pool halves each (rounding down)."
    )


def _params_hint(num_params: int, net: nn.Sequential) -> str:
    biases = sum(m.bias.numel() for m in net if isinstance(m, (nn.Conv2d, nn.Linear)))
    total = sum(p.numel() for p in net.parameters())
    if num_params == total - biases:
        return "each filter of a Conv2d, and each output of the Linear layer, has a bias too."
    if num_params == total - sum(p.numel() for p in net[-1].parameters()):
        return "count the last nn.Linear layer too: (C*H*W)*10 weights and 10 biases."
    return (
        "a Conv2d has K*C*F*F weights and K biases; the Linear layer has "
        "(C*H*W)*10 weights and 10 biases; ReLU and pooling have none."
    )


@self_check("Exercise 5.2 (shapes and parameters of a CNN)", usage="cu.check_cnn_shapes(shape, num_params)")
def check_cnn_shapes(shape: tuple[int, int, int], num_params: int) -> None:
    """``shape`` (C, H, W) after the last convolution and the network's ``num_params``.

    Args:
        shape: tuple of three ints, the shape of one image's feature maps before `nn.Flatten`.
        num_params: int, the number of parameters of the whole network, including the last
            `nn.Linear` layer.
    """
    net = exercise_network()
    shape = _as_shape(shape)
    expected_shape = tuple(net[:-2](torch.zeros(1, 3, 32, 48)).shape[1:])
    if shape != expected_shape:
        what = "number of channels" if shape[0] != expected_shape[0] else "height or width"
        raise CheckFailed(f"the {what} is not right.", _shape_hint(shape, expected_shape))
    if isinstance(num_params, bool) or not isinstance(num_params, (int, np.integer)):
        raise CheckFailed(f"`num_params` should be an int, got {type(num_params).__name__}.")
    if int(num_params) != sum(p.numel() for p in net.parameters()):
        raise CheckFailed(
            "the shape is right, but the number of parameters is not.", _params_hint(int(num_params), net)
        )


def _check_test_set(X_test, y_test) -> None:
    """`CheckMisused` unless ``X_test`` and ``y_test`` are the 10,000 MNIST test images and labels."""
    expected = "pass the 10,000 MNIST test images and labels as cu.load_mnist() returns them"
    if not isinstance(X_test, torch.Tensor) or not isinstance(y_test, torch.Tensor):
        raise CheckMisused(f"{expected} (tensors); got {type(X_test).__name__} and {type(y_test).__name__}.")
    if tuple(X_test.shape) != (10_000, 1, 28, 28) or not X_test.is_floating_point():
        raise CheckMisused(
            f"{expected}: X_test should be a float tensor of shape (10000, 1, 28, 28), got {X_test.dtype} of "
            f"shape {tuple(X_test.shape)}."
        )
    if tuple(y_test.shape) != (10_000,) or y_test.dtype != torch.int64:
        raise CheckMisused(
            f"{expected}: y_test should hold the int64 labels, shape (10000,), got {y_test.dtype} of "
            f"shape {tuple(y_test.shape)}."
        )
    if not torch.isfinite(X_test).all() or int(y_test.min()) < 0 or int(y_test.max()) > 9:
        raise CheckMisused(f"{expected}: these hold NaN or infinite pixels, or labels outside 0..9.")


@self_check(
    "Exercise 5.3 (a CNN under a parameter budget)",
    success=f"correct: at most {SMALL_CNN_MAX_PARAMS:,} parameters and at least "
    f"{SMALL_CNN_MIN_ACCURACY:.1%} test accuracy. Well done!",
    usage="cu.check_small_cnn(small_cnn, X_test, y_test)",
    answer="model",
    call="small_cnn(images)",
)
def check_small_cnn(model: nn.Module, X_test: torch.Tensor, y_test: torch.Tensor) -> None:
    """A trained ``model`` with at most 8,000 parameters and at least 98.5% test accuracy.

    Args:
        model: a trained `nn.Module` mapping images (N, 1, 28, 28) to logits (N, 10).
        X_test: the 10,000 MNIST test images, float tensor of shape (10000, 1, 28, 28).
        y_test: their labels, int64 tensor of shape (10000,).
    """
    _check_test_set(X_test, y_test)
    num_params = sum(p.numel() for p in model.parameters())
    if num_params == 0:
        raise CheckFailed("your model has no parameters.", "a CNN learns its filters: start with nn.Conv2d layers.")
    if num_params > SMALL_CNN_MAX_PARAMS:
        raise CheckFailed(
            f"your model has {num_params:,} parameters, over the budget of {SMALL_CNN_MAX_PARAMS:,}.",
            "the dense layers hold most parameters: pool more before flattening, "
            "or use fewer channels in the last convolution.",
        )
    device = next(model.parameters()).device
    with torch.no_grad():
        model.eval()  # the check's own copy of the model: the caller's keeps its mode
        output = model(X_test[:2].to(device))
    if not isinstance(output, torch.Tensor):
        raise CheckFailed(f"your model should return a tensor of logits, got {type(output).__name__}.")
    if tuple(output.shape) != (2, 10):
        raise CheckFailed(f"for 2 images your model should output logits of shape (2, 10), got {tuple(output.shape)}.")
    accuracy = evaluate(model, X_test, y_test)["accuracy"]
    if accuracy < SMALL_CNN_MIN_ACCURACY:
        raise CheckFailed(
            f"{num_params:,} parameters is within budget, but the test accuracy is "
            f"{accuracy:.2%}, below {SMALL_CNN_MIN_ACCURACY:.1%}.",
            "train it (cu.fit with Adam and OneCycleLR, two or three epochs); if that is "
            "not enough, give the convolutions more channels and the dense head fewer units.",
        )
