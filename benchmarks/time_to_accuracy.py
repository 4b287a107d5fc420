"""Time to accuracy: the book's CNN training against the source material's, on the same machine.

**The book's side** is the chapter's own main training, run exactly as the book runs it: the CNN
chapter (``book/05_cnns.ipynb``) is executed in a fresh kernel up to its cell tagged
``cnn-train`` (after its ``cnn-model`` cell), and the per-epoch training seconds and test
accuracies are read from what it glues, ``cnn_epoch_seconds`` and ``cnn_epoch_test_acc``. When
the whole book is benchmarked, the values come from that run instead of a second one.

**The baseline** is written the way the source material trains (``002_*.txt`` of the course's
seeds): ``torchvision.datasets.MNIST`` with a per-sample ``ToTensor`` transform and one-hot
targets, a ``DataLoader`` with batch size 32, its small CNN ending in ``Softmax`` with
``BCELoss``, and SGD with learning rate 0.1, for 10 epochs. Each epoch's seconds cover training
only; the test accuracy is measured after it, untimed (as ``cu.fit`` does).

Times are compared at epoch ends, so "time to 99.0%" is the training time up to the first epoch
that ends at or above 99.0%.

Run: ``python -m benchmarks.time_to_accuracy [--device cpu|cuda] [--baseline-epochs 10]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nbformat
import torch
from torch import nn

from benchmarks.execute import execute_notebook
from tools import chapter_format as cf

CNN_NOTEBOOK = cf.BOOK / "05_cnns.ipynb"
SECONDS_GLUE, ACCURACY_GLUE = "cnn_epoch_seconds", "cnn_epoch_test_acc"
FIRST_STEP_GLUE = "cnn_first_step_seconds"  # optional: the first step, CUDA start-up included
TARGET = 0.99


def baseline_model() -> nn.Sequential:
    """The source material's small CNN, layer for layer; input (N, 1, 28, 28), output probabilities (N, 10)."""
    return nn.Sequential(
        nn.Conv2d(1, 12, (9, 9)),  # 12 x 20 x 20
        nn.MaxPool2d((2, 2)),  # 12 x 10 x 10
        nn.ReLU(),
        nn.Conv2d(12, 24, (5, 5)),  # 24 x 6 x 6
        nn.ReLU(),
        nn.MaxPool2d((3, 3)),  # 24 x 2 x 2
        nn.Flatten(),  # 96
        nn.Linear(96, 16),
        nn.ReLU(),
        nn.Linear(16, 10),
        nn.Softmax(dim=1),
    )


def one_hot(label: int) -> torch.Tensor:
    """The source's target transform: class index -> float one-hot vector of length 10."""
    target = torch.zeros(10)
    target[label] = 1.0
    return target


def baseline_loaders(root, subset: int | None = None):
    """The source's data pipeline: per-sample ``ToTensor``, one-hot targets, batches of 32 (test: 1000).

    Args:
        root: folder holding ``MNIST/raw`` (e.g. ``cu.data_dir()``).
        subset: use only the first ``subset`` training and test images (for tests).
    """
    import torchvision

    kwargs = dict(root=root, download=True, transform=torchvision.transforms.ToTensor(), target_transform=one_hot)
    train, test = (torchvision.datasets.MNIST(train=t, **kwargs) for t in (True, False))
    if subset is not None:
        train, test = (torch.utils.data.Subset(d, range(subset)) for d in (train, test))
    return (
        torch.utils.data.DataLoader(train, shuffle=True, batch_size=32),
        torch.utils.data.DataLoader(test, batch_size=1000),
    )


@torch.no_grad()
def baseline_accuracy(model, loader, device) -> float:
    model.eval()
    correct = total = 0
    for inputs, labels in loader:
        outputs = model(inputs.to(device))
        correct += (outputs.argmax(1) == labels.to(device).argmax(1)).sum().item()
        total += len(inputs)
    model.train()
    return correct / total


def train_baseline(
    num_epochs: int = 10, device="cpu", root=None, *, subset: int | None = None, seed: int = 0, log=print
) -> dict:
    """Train the source's CNN the source's way; time every epoch and test after it.

    Returns:
        ``{"epoch_seconds": [...], "epoch_test_accuracy": [...], "epoch_train_loss": [...],
        "params": int}``.
    """
    import course_utils as cu

    torch.manual_seed(seed)
    device = torch.device(device)
    train_loader, test_loader = baseline_loaders(root or cu.data_dir(), subset)
    model = baseline_model().to(device)
    loss_fn, optimizer = nn.BCELoss(), torch.optim.SGD(model.parameters(), lr=0.1)
    result = {
        "epoch_seconds": [],
        "epoch_test_accuracy": [],
        "epoch_train_loss": [],
        "params": sum(p.numel() for p in model.parameters()),
    }
    model.train()
    for epoch in range(1, num_epochs + 1):
        start, total_loss, samples = time.perf_counter(), 0.0, 0
        for inputs, labels in train_loader:
            optimizer.zero_grad()
            inputs, labels = inputs.to(device), labels.to(device)
            loss = loss_fn(model(inputs), labels)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(inputs)
            samples += len(inputs)
        result["epoch_seconds"].append(time.perf_counter() - start)
        result["epoch_train_loss"].append(total_loss / samples)
        result["epoch_test_accuracy"].append(baseline_accuracy(model, test_loader, device))
        log(
            f"baseline epoch {epoch}: {result['epoch_seconds'][-1]:.1f} s, "
            f"test accuracy {result['epoch_test_accuracy'][-1]:.4f}"
        )
    return result


def seconds_to(epoch_seconds, epoch_accuracy, threshold: float) -> float | None:
    """Training seconds up to the end of the first epoch whose accuracy is at least ``threshold``."""
    elapsed = 0.0
    for seconds, accuracy in zip(epoch_seconds, epoch_accuracy):
        elapsed += seconds
        if accuracy >= threshold:
            return elapsed
    return None


def summarize(book: dict, baseline: dict, target: float = TARGET) -> dict:
    """Time to ``target`` for both, and the ratio of their times to the baseline's best accuracy.

    Args:
        book, baseline: dicts with ``epoch_seconds`` and ``epoch_test_accuracy`` (fractions).
    Returns:
        ``{"target", "book": {..., "seconds_to_target", "best_accuracy",
        "seconds_to_baseline_best"}, "baseline": {..., "seconds_to_target", "best_accuracy",
        "seconds_to_best"}, "speedup"}``; speedup is the baseline's time to its best accuracy over
        the book's time to the same accuracy (None if the book never gets there). If ``book``
        has ``first_step_seconds``, its ``seconds_to_target_after_first_step`` leaves that step
        out: on a GPU it holds the one-off start-up (loading kernels, initialising cuDNN).
    """
    book, baseline = dict(book), dict(baseline)
    for side in (book, baseline):
        side["seconds_to_target"] = seconds_to(side["epoch_seconds"], side["epoch_test_accuracy"], target)
        side["best_accuracy"] = max(side["epoch_test_accuracy"], default=None)
    if book.get("first_step_seconds") is not None and book["seconds_to_target"] is not None:
        book["seconds_to_target_after_first_step"] = book["seconds_to_target"] - book["first_step_seconds"]
    best = baseline["best_accuracy"]
    baseline["seconds_to_best"] = seconds_to(baseline["epoch_seconds"], baseline["epoch_test_accuracy"], best)
    book["seconds_to_baseline_best"] = seconds_to(book["epoch_seconds"], book["epoch_test_accuracy"], best)
    speedup = (
        baseline["seconds_to_best"] / book["seconds_to_baseline_best"] if book["seconds_to_baseline_best"] else None
    )
    return {"target": target, "book": book, "baseline": baseline, "speedup": speedup}


def as_fractions(accuracies) -> list[float]:
    """Accuracies as fractions, whether the chapter glued 0.991 or 99.1."""
    accuracies = [float(a) for a in accuracies]
    return [a / 100 for a in accuracies] if accuracies and max(accuracies) > 1 else accuracies


def book_training_from_glue(glue: dict, source: str = "the CNN chapter") -> dict:
    """The book's per-epoch seconds and test accuracies from a chapter's glued values.

    Raises:
        LookupError: the chapter did not glue both lists, or they differ in length.
    """
    missing = [name for name in (SECONDS_GLUE, ACCURACY_GLUE) if not isinstance(glue.get(name), (list, tuple))]
    if missing:
        raise LookupError(
            f"{source} did not glue {', '.join(missing)} as lists (per-epoch values of its main "
            f"CNN training); glued: {sorted(glue)}"
        )
    seconds, accuracy = [float(s) for s in glue[SECONDS_GLUE]], as_fractions(glue[ACCURACY_GLUE])
    if len(seconds) != len(accuracy) or not seconds:
        raise LookupError(f"{source}: {SECONDS_GLUE} has {len(seconds)} entries, {ACCURACY_GLUE} {len(accuracy)}")
    first_step = glue.get(FIRST_STEP_GLUE)
    return {
        "epoch_seconds": seconds,
        "epoch_test_accuracy": accuracy,
        "first_step_seconds": float(first_step) if first_step is not None else None,
    }


def training_stop_index(nb) -> int:
    """Index of the last cell to execute for the CNN's main training: the last ``cnn-train`` cell,
    or a later cell that glues the per-epoch values.

    Raises:
        LookupError: no code cell tagged ``cnn-model`` or ``cnn-train``.
    """
    tagged = {
        tag: [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and tag in cf.tags(c)]
        for tag in (cf.CNN_MODEL, cf.CNN_TRAIN)
    }
    for tag, indices in tagged.items():
        if not indices:
            raise LookupError(
                f"no code cell tagged {tag!r}: the CNN chapter must tag its CNN definition "
                f"{cf.CNN_MODEL!r} and its main training {cf.CNN_TRAIN!r}"
            )
    if max(tagged[cf.CNN_MODEL]) > max(tagged[cf.CNN_TRAIN]):
        raise LookupError(f"the {cf.CNN_MODEL!r} cell comes after the last {cf.CNN_TRAIN!r} cell")
    gluing = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and ACCURACY_GLUE in c.source and i > max(tagged[cf.CNN_TRAIN])
    ]
    return max(tagged[cf.CNN_TRAIN] + gluing[:1])


def model_source(notebook=CNN_NOTEBOOK) -> str:
    """The source of the chapter's ``cnn-model`` cell(s), for the report."""
    nb = nbformat.read(notebook, as_version=4)
    return "\n\n".join(c.source for c in cf.code_cells(nb, cf.CNN_MODEL))


def run_book_training(notebook=CNN_NOTEBOOK, device: str = "auto") -> dict:
    """Execute the CNN chapter up to its main training in a fresh kernel; return its per-epoch record.

    Raises:
        FileNotFoundError: the chapter is missing. LookupError: it lacks the tags or the glue.
        RuntimeError: a cell failed.
    """
    notebook = Path(notebook)
    if not notebook.exists():
        raise FileNotFoundError(f"{notebook} does not exist: the time-to-accuracy benchmark needs the CNN chapter")
    stop = training_stop_index(nbformat.read(notebook, as_version=4))
    run = execute_notebook(notebook, device, stop_after=stop)
    if run.status != "ok":
        raise RuntimeError(f"{notebook.name} failed before its training finished ({run.status}):\n{run.error}")
    return book_training_from_glue(run.glue, notebook.name) | {
        "notebook": notebook.name,
        "device": run.glue.get("cnn_device", device),
    }


def measure(
    book: dict, device: str = "cpu", baseline_epochs: int = 10, root=None, log=print, subset: int | None = None
) -> dict:
    """Run the baseline now and summarize it against ``book`` (see `book_training_from_glue`).

    ``subset`` trains the baseline on the first images only: a smoke test, not a comparison.
    """
    if device == "auto":
        import course_utils as cu

        device = str(cu.get_device())
    baseline = train_baseline(baseline_epochs, device, root, subset=subset, log=log)
    return summarize(book, baseline) | {"baseline_device": device, "baseline_subset": subset}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", default=str(CNN_NOTEBOOK), help="the CNN chapter")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--baseline-epochs", type=int, default=10)
    parser.add_argument("--out", help="write the result as JSON to this file")
    args = parser.parse_args(argv)
    try:
        book = run_book_training(args.notebook, args.device)
    except (FileNotFoundError, LookupError, RuntimeError) as error:
        print(f"time_to_accuracy: {error}", file=sys.stderr)
        return 2
    result = measure(book, args.device, args.baseline_epochs)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
