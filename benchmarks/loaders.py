"""Loader comparison: the per-sample PIL pipeline against tensors already in memory.

The per-sample pipeline is what most tutorials (and the course's source material) write:
``torchvision.datasets.MNIST`` decodes each image into a PIL image, ``ToTensor`` and ``Normalize``
turn it into a tensor, and ``DataLoader`` collates batches, one Python call per image. The
in-memory way is what the book does: load all images once as one standardised tensor
(``cu.load_mnist``) and cut batches by indexing with a shuffled permutation.

Both are timed for one epoch of *data only* (every batch produced and moved to the device, no
model), so the difference is the cost of the pipeline itself.

Run: ``python -m benchmarks.loaders [--device cpu] [--batch-sizes 32 256] [--subset N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch


def pil_dataset(root, train: bool = True, subset: int | None = None):
    """MNIST through torchvision's per-sample transform: PIL image -> ``ToTensor`` -> ``Normalize``.

    Gives the same numbers as `cu.load_mnist`: float32 (1, 28, 28) images, standardised.
    """
    import torchvision
    from torchvision import transforms

    import course_utils as cu

    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((cu.data.MNIST_MEAN,), (cu.data.MNIST_STD,))]
    )
    dataset = torchvision.datasets.MNIST(root, train=train, download=True, transform=transform)
    return torch.utils.data.Subset(dataset, range(subset)) if subset is not None else dataset


def pil_batches(dataset, batch_size: int, shuffle: bool = True, num_workers: int = 0):
    """A `DataLoader` over ``dataset``; the per-sample way."""
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers)


def tensor_batches(X: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = True):
    """Yield ``(X_batch, y_batch)`` by indexing in-memory tensors; the book's way (as in ``cu.fit``)."""
    order = torch.randperm(len(X), device=X.device) if shuffle else torch.arange(len(X), device=X.device)
    for i in range(0, len(X), batch_size):
        idx = order[i : i + batch_size]
        yield X[idx], y[idx]


def epoch_seconds(make_batches, device="cpu", repeats: int = 3) -> list[float]:
    """Seconds to produce every batch of one epoch and move it to ``device``, ``repeats`` times.

    Args:
        make_batches: a function returning a fresh iterable of ``(X_batch, y_batch)``.
    Returns:
        One time per repeat (the number of images seen is checked to be the same every time).
    """
    device, times, counts = torch.device(device), [], set()
    for _ in range(repeats):
        start, seen = time.perf_counter(), 0
        for X_batch, y_batch in make_batches():
            X_batch, y_batch = X_batch.to(device, non_blocking=True), y_batch.to(device, non_blocking=True)
            seen += len(X_batch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
        counts.add(seen)
    assert len(counts) == 1, f"epochs saw different numbers of images: {counts}"
    return times


def compare_loaders(
    root=None, device: str = "cpu", batch_sizes=(32, 256), subset: int | None = None, repeats: int = 3
) -> dict:
    """Seconds per epoch (median of ``repeats``) of both pipelines over the MNIST training set.

    Returns:
        ``{"device", "num_images", "repeats", "rows": [{"batch_size", "pipeline_seconds",
        "tensor_seconds", "pipeline_all", "tensor_all"}]}``.
    """
    import course_utils as cu

    root = root or cu.data_dir()
    dataset = pil_dataset(root, subset=subset)
    X, y = cu.load_mnist(root, device=device, allow_fallback=False)[:2]
    if subset is not None:
        X, y = X[:subset], y[:subset]
    rows = []
    for batch_size in batch_sizes:
        pipeline = epoch_seconds(lambda b=batch_size: pil_batches(dataset, b), device, repeats)
        tensors = epoch_seconds(lambda b=batch_size: tensor_batches(X, y, b), device, repeats)
        rows.append(
            {
                "batch_size": batch_size,
                "pipeline_seconds": statistics.median(pipeline),
                "tensor_seconds": statistics.median(tensors),
                "pipeline_all": pipeline,
                "tensor_all": tensors,
            }
        )
    return {"device": str(device), "num_images": len(X), "repeats": repeats, "rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--subset", type=int, help="only the first N training images")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(
        json.dumps(
            compare_loaders(device=args.device, batch_sizes=args.batch_sizes, subset=args.subset, repeats=args.repeats),
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
