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
from nbdefs import cells_with_tag
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
def test_max_pool2d_matches_torch(scratch, seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(10):
        C, H, W = rng.integers(1, 5), rng.integers(2, 13), rng.integers(2, 13)
        size, stride = int(rng.integers(1, min(H, W) + 1)), int(rng.integers(1, 4))
        X = rng.normal(size=(C, H, W))
        torch.testing.assert_close(
            torch.tensor(scratch["max_pool2d"](X, size, stride)), F.max_pool2d(torch.tensor(X)[None], size, stride)[0]
        )


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


# --- Exercise 5.1: convolution as a matrix product ------------------------------------------------


def loop_conv(X, W, b, stride=1, padding=0):
    return torch_conv(X, W, b, stride, padding).numpy()


WRONG_CONVS = {
    "flipped kernel": lambda X, W, b, s=1, p=0: loop_conv(X, W[:, :, ::-1, ::-1].copy(), b, s, p),
    "no bias": lambda X, W, b, s=1, p=0: loop_conv(X, W, np.zeros_like(b), s, p),
    "first filter for every channel": lambda X, W, b, s=1, p=0: loop_conv(X, np.repeat(W[:1], len(W), 0), b, s, p),
    "stride ignored": lambda X, W, b, s=1, p=0: loop_conv(X, W, b, 1, p),
    "padding ignored": lambda X, W, b, s=1, p=0: loop_conv(X, W, b, s, 0),
    "channels last": lambda X, W, b, s=1, p=0: np.moveaxis(loop_conv(X, W, b, s, p), 0, -1),
    "returns None": lambda X, W, b, s=1, p=0: None,
    "returns a string": lambda X, W, b, s=1, p=0: "conv",
    "crashes": lambda X, W, b, s=1, p=0: X @ W,
    "not attempted": lambda X, W, b, s=1, p=0: not_attempted(),
}


def not_attempted():
    raise NotImplementedError("Exercise: write conv2d_matmul")


def test_conv2d_matmul_solution_passes_and_matches_torch(solutions):
    assert cu.check_conv2d_matmul(solutions["conv2d_matmul"]).passed
    rng = np.random.default_rng(15)
    for _ in range(20):
        X, W, b, stride, padding = random_conv_case(rng)
        torch.testing.assert_close(
            torch.tensor(solutions["conv2d_matmul"](X, W, b, stride, padding)), torch_conv(X, W, b, stride, padding)
        )


def test_conv2d_matmul_check_accepts_the_chapter_conv2d_and_tensors(scratch):
    assert cu.check_conv2d_matmul(scratch["conv2d"]).passed
    assert cu.check_conv2d_matmul(lambda *args: torch.tensor(loop_conv(*args))).passed


@pytest.mark.parametrize("name", WRONG_CONVS)
def test_conv2d_matmul_check_rejects_wrong_answers(name, capsys):
    result = cu.check_conv2d_matmul(WRONG_CONVS[name])
    assert not result.passed and result.message
    assert "Exercise 5.1" in capsys.readouterr().out


def test_conv2d_matmul_hints_name_the_mistake():
    assert "flipped" in cu.check_conv2d_matmul(WRONG_CONVS["flipped kernel"]).hint
    assert "bias" in cu.check_conv2d_matmul(WRONG_CONVS["no bias"]).hint
    assert "first filter" in cu.check_conv2d_matmul(WRONG_CONVS["first filter for every channel"]).hint
    assert "shape" in cu.check_conv2d_matmul(WRONG_CONVS["stride ignored"]).message


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


def test_small_cnn_check_accepts_the_trained_solution(solutions, mnist_test):
    X_train, y_train, X_test, y_test = mnist_test
    cu.set_seed(0)
    model = solutions["make_small_cnn"]().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    steps = 2 * -(-len(X_train) // 128)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=5e-3, total_steps=steps)
    cu.fit(model, nn.CrossEntropyLoss(), optimizer, X_train, y_train, 2, 128, scheduler=scheduler, progress=False)
    assert cu.check_small_cnn(model, X_test, y_test).passed


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


def _conv_flipping_W_in_place(X, W, b, s=1, p=0):
    W[...] = W[:, :, ::-1, ::-1].copy()
    return loop_conv(X, W, b, s, p)


def _conv_then_clears_b(X, W, b, s=1, p=0):
    out = loop_conv(X, W, b, s, p)
    b[...] = 0.0
    return out


CONV_ANSWERS = [
    ("reference", Solution("conv2d_matmul"), "passed", ()),
    ("flipped kernel", WRONG_CONVS["flipped kernel"], "wrong", ("flipped",)),
    ("no bias", WRONG_CONVS["no bias"], "wrong", ("bias is missing",)),
    ("first filter for every channel", WRONG_CONVS["first filter for every channel"], "wrong", ("W[k]",)),
    ("stride ignored", WRONG_CONVS["stride ignored"], "wrong", ("shape", "H_out")),
    ("padding ignored", WRONG_CONVS["padding ignored"], "wrong", ("shape",)),
    ("channels last", WRONG_CONVS["channels last"], "wrong", ("shape",)),
    ("flips W in place", _conv_flipping_W_in_place, "wrong", ("flipped", "`W`", "in place")),
    ("clears b afterwards", _conv_then_clears_b, "changed-input", ("`b`", "b.copy()")),
    ("a tensor", lambda *a: torch.tensor(loop_conv(*a)), "passed", ()),
    ("None", WRONG_CONVS["returns None"], "wrong", ("returned None",)),
    ("a string", WRONG_CONVS["returns a string"], "wrong", ("got str",)),
    ("crashes", WRONG_CONVS["crashes"], "raised", ("ValueError", "conv2d_matmul(X, W, b, stride, padding)")),
    ("not attempted", WRONG_CONVS["not attempted"], "not-attempted", ("raise NotImplementedError",)),
]


@pytest.mark.parametrize(ROW, rows(CONV_ANSWERS))
def test_check_conv2d_matmul_table(answer, kind, words, solutions):
    assert_verdict(cu.check_conv2d_matmul(answer_of(answer, solutions)), kind, words)


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
