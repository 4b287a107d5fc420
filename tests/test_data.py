import gzip
import shutil
import warnings

import numpy as np
import pytest
import torch
import torchvision

import course_utils as cu
from course_utils.data import MNIST_MEAN, MNIST_STD


def test_full_mnist_shapes_dtypes_and_values(mnist):
    X_train, y_train, X_test, y_test = mnist
    assert X_train.shape == (60_000, 1, 28, 28) and X_test.shape == (10_000, 1, 28, 28)
    assert X_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert y_train.shape == (60_000,) and y_test.shape == (10_000,)
    assert mnist.is_full
    # standardised with the training set's statistics
    assert abs(X_train.mean().item()) < 1e-3 and abs(X_train.std().item() - 1) < 1e-3
    assert X_train.min().item() == pytest.approx(-MNIST_MEAN / MNIST_STD, abs=1e-5)
    assert X_train.max().item() == pytest.approx((1 - MNIST_MEAN) / MNIST_STD, abs=1e-5)
    # the published per-class counts of the training set
    assert y_train.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_on_a_device():
    X_train, *_ = cu.load_mnist(device="cpu", allow_fallback=False)
    assert X_train.device.type == "cpu"


@pytest.fixture
def offline_mirrors(monkeypatch):
    """Make torchvision's download fail fast, as on a machine with no network."""
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])


def test_no_files_no_network_falls_back_with_a_clear_warning(tmp_path, offline_mirrors):
    with pytest.warns(UserWarning, match="offline subset") as caught:
        data = cu.load_mnist(tmp_path)
    message = str(caught[0].message)
    assert str(tmp_path / "MNIST" / "raw") in message and "COURSE_DATA_DIR" in message
    assert not data.is_full
    assert data.X_train.shape == (4000, 1, 28, 28) and data.X_test.shape == (1000, 1, 28, 28)
    assert data.X_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    # stratified: every class equally represented in both splits; shuffled: labels not sorted
    assert data.y_train.bincount().tolist() == [400] * 10
    assert data.y_test.bincount().tolist() == [100] * 10
    assert not torch.equal(data.y_train, data.y_train.sort().values)


def test_fallback_without_download_attempt(tmp_path):
    with pytest.warns(UserWarning, match="offline subset"):
        assert not cu.load_mnist(tmp_path, download=False).is_full


def test_missing_files_without_fallback_raise_a_helpful_error(tmp_path, offline_mirrors):
    with pytest.raises(RuntimeError) as error:
        cu.load_mnist(tmp_path, allow_fallback=False)
    text = str(error.value)
    assert "not in" in text and "train-images-idx3-ubyte.gz" in text and "COURSE_DATA_DIR" in text


@pytest.mark.parametrize("allow_fallback", [True, False])
def test_corrupt_file_raises_instead_of_falling_back(tmp_path, offline_mirrors, allow_fallback):
    raw = tmp_path / "MNIST" / "raw"
    shutil.copytree(cu.data_dir() / "MNIST" / "raw", raw)
    for extracted in raw.glob("*-ubyte"):
        extracted.unlink()
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"not an image file"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no silent fallback
        with pytest.raises(RuntimeError, match="could not be read"):
            cu.load_mnist(tmp_path, allow_fallback=allow_fallback)


def test_truncated_extracted_file_raises(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    shutil.copytree(cu.data_dir() / "MNIST" / "raw", raw)
    cu.load_mnist(tmp_path, download=True, allow_fallback=False)  # extracts the .gz files
    target = raw / "t10k-images-idx3-ubyte"
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(RuntimeError, match="could not be read"):
        cu.load_mnist(tmp_path, download=False)


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert cu.data_dir() == tmp_path
    monkeypatch.delenv("COURSE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert cu.data_dir() == tmp_path / "cache" / "course_utils"


def test_standardize_images_checks_its_input():
    out = cu.standardize_images(torch.full((2, 28, 28), 255, dtype=torch.uint8))
    assert out.shape == (2, 1, 28, 28)
    assert torch.allclose(out, torch.tensor((1 - MNIST_MEAN) / MNIST_STD))
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(N, 28, 28\).*got torch.float32"):
        cu.standardize_images(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"\(2, 27, 28\)"):
        cu.standardize_images(torch.zeros(2, 27, 28, dtype=torch.uint8))


def test_cubic_regression_data():
    X, y = cu.make_cubic_regression(n_samples=5000, seed=1)
    assert X.shape == (5000, 2) and y.shape == (5000, 1) and X.dtype == torch.float32
    torch.testing.assert_close(y[:, 0], X[:, 0] ** 2 + 14 * X[:, 1] ** 3)
    assert X[:, 0].mean().item() == pytest.approx(-3, abs=0.1)
    assert X[:, 1].mean().item() == pytest.approx(10, abs=0.1)
    torch.testing.assert_close(cu.make_cubic_regression(10, seed=2)[0], cu.make_cubic_regression(10, seed=2)[0])


def test_tiny_digits_are_ten_distinct_binary_images():
    images, labels = cu.tiny_digits()
    assert images.shape == (10, 5, 5) and labels.tolist() == list(range(10))
    assert set(np.unique(images)) == {0.0, 1.0}
    assert len({image.tobytes() for image in images}) == 10
