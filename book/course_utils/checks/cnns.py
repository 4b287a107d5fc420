"""Self-checks for chapter 5, `cnns` (convolutional networks)."""

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..train import evaluate
from . import CheckFailed, CheckMisused, as_tensor, self_check

# Exercise 5.3: the budget and the targets the small CNN must meet.
SMALL_CNN_MAX_PARAMS = 8_000
SMALL_CNN_MIN_ACCURACY = 0.985  # on the 10,000 MNIST test images
SMALL_CNN_FALLBACK_MIN_ACCURACY = 0.85  # on the 1,000 test images of the offline subset (README: data)


def _patches_reference(X: np.ndarray, kernel_size: int, stride: int, padding: int) -> torch.Tensor:
    X = torch.as_tensor(X, dtype=torch.float64)
    return F.unfold(X[None], kernel_size, padding=padding, stride=stride)[0]


def _im2col_cases():
    """(X, kernel_size, stride, padding) cases: one simple, then several channels, strides, paddings, H != W."""
    rng = np.random.default_rng(5)
    cases = [(np.arange(16.0).reshape(1, 4, 4), 2, 1, 0)]
    for C, H, W_, F_, stride, padding in [
        (1, 5, 5, 2, 2, 1),
        (3, 7, 9, 3, 1, 1),
        (2, 8, 6, 3, 2, 0),
        (2, 9, 11, 4, 3, 2),
    ]:
        cases.append((rng.normal(size=(C, H, W_)), F_, stride, padding))
    return cases


def _patch_layouts(X: np.ndarray, kernel_size: int, stride: int, padding: int) -> dict:
    """The reference's rows or columns in a classic wrong order, by the hint that names the mistake."""
    C = X.shape[0]
    reference = _patches_reference(X, kernel_size, stride, padding)
    H_out, W_out = ((n + 2 * padding - kernel_size) // stride + 1 for n in X.shape[1:])  # the sizes unfold used
    by_offset = reference.reshape(C, kernel_size, kernel_size, H_out, W_out)
    return {
        "the rows are in the order (filter row, filter column, channel): order them as W.reshape(C_out, -1) "
        "orders the weights, channel first, then filter row, then filter column.": by_offset.permute(
            1, 2, 0, 3, 4
        ).reshape(reference.shape),
        "the rows are in the order (filter column, filter row): within a channel, a patch is flattened row by "
        "row, like W[k, c].reshape(-1).": by_offset.transpose(1, 2).reshape(reference.shape),
        "the columns are in column-major order: number the positions row by row, column i * W_out + j for "
        "output row i and column j.": by_offset.transpose(3, 4).reshape(reference.shape),
        "each patch is flipped: take X[c, i*stride + u, j*stride + v] for filter offset (u, v), without "
        "flipping.": by_offset.flip(1, 2).reshape(reference.shape),
    }


def _patch_shape_hint(shape: tuple, X: np.ndarray, kernel_size: int, stride: int, padding: int) -> str:
    C = X.shape[0]
    rows, columns = _patches_reference(X, kernel_size, stride, padding).shape
    if shape == (columns, rows):
        return "the matrix is transposed: one row per entry of a patch (C*F*F rows), one column per position."
    if len(shape) == 2 and shape[1] == columns and shape[0] == kernel_size * kernel_size and C > 1:
        return "a patch spans every input channel: C*F*F rows, not F*F (a filter has a weight for each channel)."
    if len(shape) != 2:
        return "return a matrix (2 axes): reshape the patches to (C*F*F, H_out*W_out)."
    return "H_out = (H - F + 2P) // S + 1, and the same for the width: one column per output position."


@self_check(
    "Exercise 5.1 (convolution as one matrix multiplication)",
    usage="cu.check_im2col(im2col)",
    answer="function",
    call="im2col(X, kernel_size, stride, padding)",
)
def check_im2col(im2col_fn: Callable) -> None:
    """``im2col_fn(X, kernel_size, stride, padding)`` must return the matrix of patches that `F.unfold` builds.

    Args:
        im2col_fn: function of a NumPy array ``X`` of shape (C, H, W) and ints ``kernel_size`` (F),
            ``stride`` and ``padding``; returns an array or tensor of shape (C*F*F, H_out*W_out) whose
            column ``i * W_out + j`` is the patch under output position (i, j), flattened in the order
            (channel, filter row, filter column), the order of ``W.reshape(C_out, -1)``.
    """
    for X, kernel_size, stride, padding in _im2col_cases():
        expected = _patches_reference(X, kernel_size, stride, padding)
        where = f"for X of shape {X.shape}, kernel_size {kernel_size}, stride {stride}, padding {padding}"
        answer = im2col_fn(X, kernel_size, stride, padding)
        if answer is None:
            raise CheckFailed("your function returned None: return the matrix of patches.")
        answer = as_tensor(answer, "the matrix of patches")
        if tuple(answer.shape) != tuple(expected.shape):
            raise CheckFailed(
                f"the matrix of patches has the wrong shape {where}: got {tuple(answer.shape)}.",
                _patch_shape_hint(tuple(answer.shape), X, kernel_size, stride, padding),
            )
        if not torch.allclose(answer, expected, rtol=1e-6, atol=1e-9):
            hint = next(
                (h for h, v in _patch_layouts(X, kernel_size, stride, padding).items() if torch.allclose(answer, v)),
                "column i * W_out + j holds X[c, i*stride + u, j*stride + v] of the padded input in row "
                "c*F*F + u*F + v.",
            )
            raise CheckFailed(f"the shape is right but the entries are not {where}.", hint)


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


def _offline_test_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The test images and labels of the offline MNIST subset that `load_mnist` falls back to."""
    from ..data import _load_mnist_subset

    data = _load_mnist_subset()
    return data.X_test, data.y_test


def _target_for(X_test, y_test) -> tuple[float, str]:
    """(target accuracy, note) for the test set passed: the full one or the offline subset's, else `CheckMisused`."""
    expected = (
        "pass the MNIST test images and labels as cu.load_mnist() returns them (the 10,000 test images, or the "
        "1,000 of the offline subset)"
    )
    if not isinstance(X_test, torch.Tensor) or not isinstance(y_test, torch.Tensor):
        raise CheckMisused(f"{expected} (tensors); got {type(X_test).__name__} and {type(y_test).__name__}.")
    if X_test.ndim != 4 or tuple(X_test.shape[1:]) != (1, 28, 28) or not X_test.is_floating_point():
        raise CheckMisused(
            f"{expected}: X_test should be a float tensor of shape (10000, 1, 28, 28), got {X_test.dtype} of "
            f"shape {tuple(X_test.shape)}."
        )
    if tuple(y_test.shape) != (len(X_test),) or y_test.dtype != torch.int64:
        raise CheckMisused(
            f"{expected}: y_test should hold the int64 labels, shape ({len(X_test)},), got {y_test.dtype} of "
            f"shape {tuple(y_test.shape)}."
        )
    if not torch.isfinite(X_test).all() or int(y_test.min()) < 0 or int(y_test.max()) > 9:
        raise CheckMisused(f"{expected}: these hold NaN or infinite pixels, or labels outside 0..9.")
    if len(X_test) == 10_000:
        return SMALL_CNN_MIN_ACCURACY, ""
    offline_X, offline_y = _offline_test_set() if len(X_test) == 1_000 else (None, None)
    if offline_X is not None and torch.equal(X_test.cpu(), offline_X) and torch.equal(y_test.cpu(), offline_y):
        return SMALL_CNN_FALLBACK_MIN_ACCURACY, " (the offline MNIST subset, so the target is lower)"
    raise CheckMisused(
        f"{expected}: X_test should be a float tensor of shape (10000, 1, 28, 28), got {len(X_test):,} images "
        f"(shape {tuple(X_test.shape)}) that are not the offline subset's test set either."
    )


@self_check(
    "Exercise 5.3 (a CNN under a parameter budget)",
    success=f"correct: at most {SMALL_CNN_MAX_PARAMS:,} parameters and the target test accuracy. Well done!",
    usage="cu.check_small_cnn(small_cnn, X_test, y_test)",
    answer="model",
    call="small_cnn(images)",
)
def check_small_cnn(model: nn.Module, X_test: torch.Tensor, y_test: torch.Tensor) -> None:
    """A trained ``model`` with at most 8,000 parameters and at least 98.5% test accuracy (85% on the
    offline subset's test set, which `load_mnist` falls back to without the full data set).

    Args:
        model: a trained `nn.Module` mapping images (N, 1, 28, 28) to logits (N, 10).
        X_test: the MNIST test images, float tensor of shape (10000, 1, 28, 28), or the offline subset's
            (1000, 1, 28, 28).
        y_test: their labels, int64 tensor of shape (N,).
    """
    target, data_note = _target_for(X_test, y_test)
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
    if accuracy < target:
        raise CheckFailed(
            f"{num_params:,} parameters is within budget, but the test accuracy is "
            f"{accuracy:.2%}, below the target of {target:.1%}{data_note}.",
            "train it (cu.fit with Adam and OneCycleLR, two or three epochs); if that is "
            "not enough, give the convolutions more channels and the dense head fewer units.",
        )


# --- Exercise 5.4: max pooling with padding and ceil_mode -----------------------------------------


def _pool_size(n: int, size: int, stride: int, padding: int, ceil_mode: bool, start_rule: bool = True) -> int:
    """PyTorch's pooling output size; without ``start_rule``, a window may start in the right padding."""
    if not ceil_mode:
        return (n + 2 * padding - size) // stride + 1
    out = -(-(n + 2 * padding - size) // stride) + 1
    return out - 1 if start_rule and (out - 1) * stride >= n + padding else out


def _pool(X: np.ndarray, size: int, stride: int, padding: int, ceil_mode: bool, fill: float = -np.inf, **kw):
    """A max pool of X (C, H, W) with ``fill`` in the padding (-inf is PyTorch's), for telling mistakes apart."""
    C, H, W = X.shape
    H_out, W_out = (_pool_size(n, size, stride, padding, ceil_mode, **kw) for n in (H, W))
    X = np.pad(X, ((0, 0), (padding, padding + size), (padding, padding + size)), constant_values=fill)
    X[:, H + 2 * padding :, :] = -np.inf  # what ceil_mode's last windows hang over is never part of a maximum
    X[:, :, W + 2 * padding :] = -np.inf
    out = np.empty((C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, i, j] = X[:, i * stride : i * stride + size, j * stride : j * stride + size].max(axis=(1, 2))
    return torch.as_tensor(out)


def _pool_reference(X: np.ndarray, size: int, stride: int, padding: int, ceil_mode: bool) -> torch.Tensor:
    X = torch.as_tensor(X, dtype=torch.float64)
    return F.max_pool2d(X[None], size, stride, padding, ceil_mode=ceil_mode)[0]


def _pool_cases():
    """(X, size, stride, padding, ceil_mode): square and not, strides other than the window, padding on
    negative maps, and ceil_mode with and without a last window that would start in the padding."""
    rng = np.random.default_rng(54)
    return [
        (np.arange(16.0).reshape(1, 4, 4), 2, 2, 0, False),
        (rng.normal(size=(2, 7, 9)), 3, 3, 0, False),
        (rng.normal(size=(3, 8, 6)), 2, 1, 0, False),
        (rng.normal(size=(2, 6, 9)) - 5, 3, 2, 1, False),
        (rng.normal(size=(2, 7, 6)), 2, 2, 0, True),
        (rng.normal(size=(1, 5, 8)) - 5, 2, 2, 1, True),
        (rng.normal(size=(2, 9, 7)) - 5, 3, 2, 1, True),
    ]


def _pool_shape_hint(shape: tuple, X: np.ndarray, size: int, stride: int, padding: int, ceil_mode: bool) -> str:
    C, H, W = X.shape
    sizes = lambda **kw: (C, *(_pool_size(n, **{"size": size, "stride": stride, "padding": padding,
                                                "ceil_mode": ceil_mode} | kw) for n in (H, W)))  # fmt: skip
    if shape == (C, size, size) and shape != sizes():
        return (
            "the output is size x size, as if every map pooled to the window's size: compute H_out and W_out "
            "from H, W, the window, the stride and the padding."
        )
    if shape in (sizes(stride=size), sizes(stride=2), sizes(stride=1)):
        return "use the stride you are given: windows start every `stride` pixels, not every `size` (or 2, or 1)."
    if ceil_mode and shape == sizes(ceil_mode=False):
        return "with ceil_mode=True the output size is rounded up: keep the last, incomplete window."
    if ceil_mode and shape == sizes(start_rule=False):
        return "with ceil_mode=True a window that would start in the right padding is dropped (PyTorch's rule)."
    if shape == sizes(padding=0):
        return "the padding is missing: it adds `padding` rows (and columns) on each side before pooling."
    if shape[1:] in ((sizes()[1],) * 2, (sizes()[2],) * 2):
        return "the height and the width can differ: compute H_out and W_out separately."
    return "H_out = floor((H + 2P - F) / S) + 1 (rounded up with ceil_mode), and the same for the width."


def _pool_mistake(X: np.ndarray, size: int, stride: int, padding: int, ceil_mode: bool, answer: torch.Tensor) -> str:
    zero_padded = _pool(X, size, stride, padding, ceil_mode, fill=0.0)
    if zero_padded.shape == answer.shape and torch.allclose(answer, zero_padded, atol=1e-6):
        return (
            "the padding is filled with zeros: a max pool pads with -inf, so that the padding is never the "
            "maximum (np.pad(..., constant_values=-np.inf))."
        )
    return (
        "each output is the largest value of one size x size window of one channel; window (i, j) starts at row "
        "i * stride and column j * stride of the padded input."
    )


@self_check(
    "Exercise 5.4 (max pooling with padding and ceil_mode)",
    usage="cu.check_max_pool(max_pool2d_padded)",
    answer="function",
    call="max_pool2d_padded(X, size, stride, padding, ceil_mode)",
)
def check_max_pool(pool_fn: Callable) -> None:
    """``pool_fn(X, size, stride, padding, ceil_mode)`` must compute what `F.max_pool2d` computes for one image.

    Args:
        pool_fn: function of a NumPy array ``X`` of shape (C, H, W) (H and W may differ), ints ``size``,
            ``stride`` and ``padding``, and a bool ``ceil_mode``; returns an array or tensor of shape
            (C, H_out, W_out).
    """
    for X, size, stride, padding, ceil_mode in _pool_cases():
        expected = _pool_reference(X, size, stride, padding, ceil_mode)
        where = f"for X of shape {X.shape}, window {size}, stride {stride}, padding {padding}, ceil_mode={ceil_mode}"
        answer = pool_fn(X, size, stride, padding, ceil_mode)
        if answer is None:
            raise CheckFailed("your function returned None: return the pooled array.")
        answer = as_tensor(answer, "the output")
        if tuple(answer.shape) != tuple(expected.shape):
            raise CheckFailed(
                f"the output should have {len(expected.shape)} axes of the right sizes {where}; "
                f"got shape {tuple(answer.shape)}.",
                _pool_shape_hint(tuple(answer.shape), X, size, stride, padding, ceil_mode),
            )
        if not torch.allclose(answer, expected, rtol=1e-6, atol=1e-9):
            raise CheckFailed(f"the shape is right but the values are not {where}.",
                              _pool_mistake(X, size, stride, padding, ceil_mode, answer))  # fmt: skip
