"""The interactive pieces of the built book, driven like a reader: explorable figures, quizzes, the
digit pad. Run after `make test-book` (it builds `_build/html`), with the other browser tests.

The pad's model is compared with PyTorch: the test decodes the ONNX model that the page carries,
loads its weights into the chapter's own `make_cnn` (the cell tagged ``cnn-model``) and compares the
page's probabilities and feature maps with PyTorch's on MNIST test digits.
"""

import base64
import html
import itertools
import json
import re

import numpy as np
import pytest
import torch

import course_utils as cu
from nbdefs import load_definitions
from site_support import SITE

pytestmark = pytest.mark.browser

CH1, CH2, CH3, CH4, CH5 = (
    "book/01_linear_models",
    "book/02_optimizers",
    "book/03_overfitting",
    "book/04_dense_networks",
    "book/05_cnns",
)
EXPLORABLE_PAGES = [CH1, CH2, CH3, CH5]  # the chapters with explorable figures
SET_VALUE = """(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true}));
                           e.dispatchEvent(new Event('change', {bubbles: true})); }"""

# --- quizzes -------------------------------------------------------------------------------------


def _quiz_items(tab):
    return tab.locator(".course-quiz .course-quiz-item")


@pytest.mark.parametrize("name", [CH1, CH2, CH3, CH4, CH5])
def test_quizzes_give_feedback_for_right_and_wrong_choices(open_page, name):
    tab = open_page(name).page
    choices = _quiz_items(tab).filter(has=tab.locator("fieldset"))
    assert choices.count() >= 2, f"{name}: expected multiple-choice questions"
    for i in range(choices.count()):
        item = choices.nth(i)
        feedback, radios = item.locator(".course-quiz-feedback"), item.locator("input[type=radio]")
        verdicts = []
        for k in range(radios.count()):
            label = item.locator(f"label[for='{radios.nth(k).get_attribute('id')}']")
            assert label.inner_text().strip(), "every choice has a visible label"
            label.click()  # a reader clicks the text of a choice
            verdicts.append(feedback.inner_text().split(".")[0])
            assert len(feedback.inner_text()) > len("Not quite. "), "each choice explains itself"
        assert sorted(verdicts) == ["Correct"] + ["Not quite"] * (radios.count() - 1)


def test_a_quiz_is_keyboard_operable(open_page):
    tab = open_page(CH5).page
    item = _quiz_items(tab).filter(has=tab.locator("fieldset")).first
    item.locator("input[type=radio]").first.focus()
    tab.keyboard.press("Space")
    assert item.locator(".course-quiz-feedback").inner_text().startswith(("Correct.", "Not quite."))
    tab.keyboard.press("ArrowDown")
    assert item.locator("input[type=radio]").nth(1).is_checked()


def test_numeric_questions_check_numbers_and_reject_text(open_page):
    tab = open_page(CH5).page
    item = _quiz_items(tab).filter(has=tab.locator("form.course-quiz-numeric")).first  # 28x28, 5x5 kernel
    answer, feedback = item.locator("input"), item.locator(".course-quiz-feedback")
    for typed, verdict in [("twenty-four", "Not a number."), ("", "Not a number."), ("23", "Not quite."),
                           ("24", "Correct."), (" 24.0 ", "Correct."), ("48/2", "Correct.")]:  # fmt: skip
        answer.fill(typed)
        answer.press("Enter")
        assert feedback.inner_text().startswith(verdict), f"typed {typed!r}: {feedback.inner_text()!r}"
    answer.fill("23")
    item.get_by_role("button", name="Check").click()
    assert "Off by one" in feedback.inner_text()  # the feedback of that particular wrong answer


# --- the digit pad -------------------------------------------------------------------------------

PAD = "document.querySelector('.course-digit-pad').coursePad"


def _pad(open_page):
    tab = open_page(CH5).page
    pad = tab.locator(".course-digit-pad")
    pad.scroll_into_view_if_needed()
    tab.wait_for_function(f"() => {PAD} && {PAD}.ready")
    tab.evaluate(f"() => {PAD}.ready")
    return tab, pad


def _page_model():
    """The chapter's `make_cnn` with the weights of the model that the built page carries."""
    import onnx
    from onnx import numpy_helper

    page = (SITE / f"{CH5}.html").read_text()
    config = json.loads(html.unescape(re.search(r'class="course-digit-pad-config">(.*?)</script>', page).group(1)))
    proto = onnx.load_from_string(base64.b64decode(config["model"]))
    weights = {  # the model's parameters; other initializers are the graph's constants
        t.name.removeprefix("model."): torch.from_numpy(numpy_helper.to_array(t).copy())
        for t in proto.graph.initializer
        if t.name.startswith("model.")
    }  # fmt: skip
    model = load_definitions("05_cnns.ipynb", "cnn-model")["make_cnn"]()
    model.load_state_dict(weights)
    return model.eval(), config


def test_an_empty_pad_asks_for_a_digit_and_clear_resets_it(open_page):
    tab, pad = _pad(open_page)
    status = pad.locator(".course-digit-pad-status")
    assert status.inner_text().startswith("Draw a digit")
    assert pad.locator(".course-digit-pad-value").all_inner_texts() == ["–"] * 10
    pad.get_by_role("button", name="Show a test digit").click()
    tab.wait_for_function(f"() => !{PAD}.status.textContent.startsWith('Draw')")
    pad.get_by_role("button", name="Clear").click()
    assert status.inner_text().startswith("Draw a digit")
    assert pad.locator(".course-digit-pad-value").all_inner_texts() == ["–"] * 10
    assert pad.locator(".course-digit-pad-maps canvas").count() == 0


def test_drawing_with_the_mouse_gets_a_prediction(open_page):
    tab, pad = _pad(open_page)
    box = pad.locator("canvas.course-digit-pad-canvas").bounding_box()
    x = box["x"] + box["width"] / 2
    tab.mouse.move(x, box["y"] + box["height"] * 0.15)
    tab.mouse.down()
    tab.mouse.move(x, box["y"] + box["height"] * 0.85, steps=12)
    tab.mouse.up()
    tab.wait_for_function(f"() => /reads a/.test({PAD}.status.textContent)")
    assert "reads a 1" in pad.locator(".course-digit-pad-status").inner_text()  # a vertical stroke
    values = [float(v.rstrip("%")) for v in pad.locator(".course-digit-pad-value").all_inner_texts()]
    assert sum(values) == pytest.approx(100, abs=0.6)
    assert pad.locator(".course-digit-pad-maps canvas").count() == 16  # the first convolution's maps


def test_a_pen_or_a_finger_draws_too(open_page):
    tab, pad = _pad(open_page)
    drawn = tab.evaluate(f"""async () => {{
      const pad = {PAD}, canvas = pad.canvas, rect = canvas.getBoundingClientRect();
      const at = (t) => ({{clientX: rect.left + rect.width * 0.5, clientY: rect.top + rect.height * t,
                           pointerId: 7, pointerType: 'pen', bubbles: true}});
      canvas.dispatchEvent(new PointerEvent('pointerdown', at(0.2)));
      for (let t = 0.25; t <= 0.8; t += 0.05) canvas.dispatchEvent(new PointerEvent('pointermove', at(t)));
      canvas.dispatchEvent(new PointerEvent('pointerup', at(0.8)));
      await new Promise(r => setTimeout(r, 300));
      return pad.predict();
    }}""")
    assert drawn is not None and len(drawn["probabilities"]) == 10


def test_the_keyboard_shows_test_digits(open_page):
    tab, pad = _pad(open_page)
    labels = tab.evaluate(f"() => {PAD}.config.labels")
    pad.get_by_role("button", name="Show a test digit").focus()
    tab.keyboard.press("Enter")
    tab.wait_for_function(f"() => /reads a/.test({PAD}.status.textContent)")
    assert f"reads a {labels[0]}" in pad.locator(".course-digit-pad-status").inner_text()


def test_the_pages_model_matches_pytorch_on_test_digits(open_page, mnist):
    tab, _ = _pad(open_page)
    model, _ = _page_model()
    images = mnist.X_test[:100]
    results = tab.evaluate(
        f"""async (images) => {{
          const out = [];
          for (const [i, x] of images.entries()) {{
            const r = await {PAD}.run(Float32Array.from(x));
            out.push([r.probabilities, i < 5 ? Array.from(r.maps.data) : null]);
          }}
          return out;
        }}""",
        images.reshape(100, -1).tolist(),
    )
    with torch.no_grad():
        expected = torch.softmax(model(images), dim=1).numpy()
        maps = model[:2](images[:5]).numpy()
    probabilities = np.array([r[0] for r in results])
    np.testing.assert_array_equal(probabilities.argmax(1), expected.argmax(1))
    np.testing.assert_allclose(probabilities, expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.array([r[1] for r in results[:5]]).reshape(maps.shape), maps, atol=1e-4, rtol=0)


# The page's preparation of a drawing, in Python: the reference the page must agree with.
def _prepare(ink: np.ndarray) -> np.ndarray | None:
    rows, cols = np.flatnonzero((ink > 0.05).any(1)), np.flatnonzero((ink > 0.05).any(0))
    if not len(rows):
        return None
    top, left, height, width = rows[0], cols[0], rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    scale = 20 / max(height, width)
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    patch = np.zeros((h, w))
    for ty in range(h):
        y0, y1 = top + (ty * height) // h, top + -(-((ty + 1) * height) // h)
        for tx in range(w):
            x0, x1 = left + (tx * width) // w, left + -(-((tx + 1) * width) // w)
            patch[ty, tx] = ink[y0:y1, x0:x1].mean()
    mass = patch.sum()
    cy, cx = (patch.sum(1) @ np.arange(h)) / mass, (patch.sum(0) @ np.arange(w)) / mass
    dy, dx = int(np.floor(14 - cy + 0.5)), int(np.floor(14 - cx + 0.5))  # JavaScript's Math.round
    frame = np.zeros((28, 28))
    for y in range(h):
        for x in range(w):
            if 0 <= y + dy < 28 and 0 <= x + dx < 28:
                frame[y + dy, x + dx] = patch[y, x]
    return frame


# Draw MNIST digits (784 grey levels each) enlarged `scale` times at (left, top) on a blank canvas.
DRAW_DIGITS = """(pixels, scale, left, top) => {
  const size = window.courseDigitPad.SIZE, ink = new Float32Array(size * size);
  for (let i = 0; i < 784; i++) {
    const y0 = top + Math.floor(i / 28) * scale, x0 = left + (i % 28) * scale;
    for (let y = y0; y < y0 + scale; y++) for (let x = x0; x < x0 + scale; x++) ink[y * size + x] = pixels[i] / 255;
  }
  return ink;
}"""


def _raw(images: torch.Tensor) -> np.ndarray:
    return ((images * cu.data.MNIST_STD + cu.data.MNIST_MEAN) * 255).round().clamp(0, 255).reshape(-1, 784).numpy()


def test_the_page_prepares_drawings_like_the_reference(open_page, mnist):
    tab, _ = _pad(open_page)
    rng = np.random.default_rng(0)
    for pixels in _raw(mnist.X_test[:6]):
        scale = int(rng.integers(3, 10))
        left, top = (int(v) for v in rng.integers(0, 280 - 28 * scale + 1, size=2))
        frame = tab.evaluate(f"(args) => Array.from(window.courseDigitPad.prepare(({DRAW_DIGITS})(...args), 280))",
                             [pixels.tolist(), scale, left, top])  # fmt: skip
        ink = np.zeros((280, 280))
        ink[top : top + 28 * scale, left : left + 28 * scale] = np.kron(
            pixels.reshape(28, 28) / 255, np.ones((scale, scale))
        )
        np.testing.assert_allclose(np.array(frame).reshape(28, 28), _prepare(ink), atol=1e-5)


def test_prepared_drawings_are_read_well_and_unprepared_ones_are_not(open_page, mnist):
    """Digits drawn at other sizes and places: the MNIST-style preparation keeps the accuracy."""
    tab, _ = _pad(open_page)
    rng = np.random.default_rng(1)
    pixels, labels = _raw(mnist.X_test[:100]), mnist.y_test[:100].numpy()
    scales = rng.integers(4, 10, size=100)
    corners = [rng.integers(0, 280 - 28 * s + 1, size=2) for s in scales]
    predicted = tab.evaluate(
        f"""async (digits) => {{
          const pad = {PAD}, draw = ({DRAW_DIGITS}), out = [];
          for (const [pixels, scale, left, top] of digits) {{
            const ink = draw(pixels, scale, left, top);
            const frame = window.courseDigitPad.prepare(ink, 280);
            const naive = new Float32Array(784);  // the whole canvas shrunk to 28x28, nothing centred
            for (let i = 0; i < 280 * 280; i++) {{
              naive[Math.floor(i / 2800) * 28 + Math.floor((i % 280) / 10)] += ink[i] / 100;
            }}
            const best = (r) => r.probabilities.indexOf(Math.max(...r.probabilities));
            out.push([best(await pad.run(pad.standardise(frame))), best(await pad.run(pad.standardise(naive)))]);
          }}
          return out;
        }}""",
        [[p.tolist(), int(s), int(c[0]), int(c[1])] for p, s, c in zip(pixels, scales, corners)],
    )
    prepared, naive = (np.mean(np.array(predicted)[:, k] == labels) for k in (0, 1))
    assert prepared >= 0.95, f"prepared drawings: {prepared:.0%} right"
    assert naive <= prepared - 0.2, f"unprepared drawings: {naive:.0%} right, prepared {prepared:.0%}"


# --- explorable figures --------------------------------------------------------------------------

# The data behind the items of the Vega mark named `name` in an explorable figure, once it has redrawn.
MARK_DATA = """async (figure, name) => {
  const view = figure.courseView, found = [];
  await view.runAsync();
  const visit = (node) => {
    if (node.marktype && node.name === name) node.items.forEach((item) => found.push(item.datum));
    (node.items || []).forEach((item) => (item.items || []).forEach(visit));
  };
  visit(view.scenegraph().root);
  return found;
}"""


def _figure(tab, index: int = 0):
    tab.wait_for_function("() => window.courseExplorables")
    tab.evaluate("async () => { await window.courseExplorables; }")
    figure = tab.locator("figure.course-explorable").nth(index)
    assert "course-live" in figure.get_attribute("class"), "the figure was not rendered live"
    return figure


def _control(figure, label: str):
    """The slider or menu whose label starts with ``label`` (as a reader finds it)."""
    names = figure.locator(".vega-bind-name").all_text_contents()
    matches = [k for k, name in enumerate(names) if name.strip().startswith(label)]
    assert len(matches) == 1, f"no single control labelled {label!r} among {names}"
    bind = figure.locator(".vega-bind").nth(matches[0])
    return bind.locator("input, select")


def _title(figure) -> list[str]:
    return figure.locator("g.role-title-text text").all_text_contents()


def _path_points(figure) -> np.ndarray:
    points = figure.evaluate(MARK_DATA, "concat_0_layer_1_layer_1_marks")  # the path's points on the map
    return np.array([[p["x"], p["y"]] for p in sorted(points, key=lambda p: p["s"])])


def test_the_optimizer_explorer_shows_the_chapters_runs(open_page):
    tab = open_page(CH2).page
    figure = _figure(tab)
    scratch = load_definitions("02_optimizers.ipynb", "from-scratch")
    valley_grad = lambda t: np.array([0.04, 2.0]) * t
    cases = [("gradient descent", -1.0, None, scratch["sgd_update"], {}),
             ("Nesterov", -1.5, 0.6, scratch["momentum_update"], {"nesterov": True}),
             ("Adam", -0.5, 0.3, scratch["adam_update"], {})]  # fmt: skip
    for optimizer, log_lr, beta, update, hyper in cases:
        _control(figure, "optimizer").select_option(optimizer)
        _control(figure, "learning rate").evaluate(SET_VALUE, log_lr)
        if beta is not None:
            _control(figure, "momentum").evaluate(SET_VALUE, beta)
            hyper = dict(hyper, **({"betas": (beta, 0.999)} if optimizer == "Adam" else {"momentum": beta}))
        expected = scratch["optimize"](update, valley_grad, [-8.0, 2.0], 50, lr=10**log_lr, **hyper)
        np.testing.assert_allclose(_path_points(figure), expected, rtol=5e-3, atol=1e-6)  # 3 significant digits
        assert _title(figure)[0].startswith(f"{optimizer}, η = {10**log_lr:.3g}")


def test_moving_the_learning_rate_past_the_threshold_makes_the_path_diverge(open_page):
    tab = open_page(CH2).page
    figure = _figure(tab)
    _control(figure, "optimizer").select_option("gradient descent")
    slider = _control(figure, "learning rate")
    slider.evaluate(SET_VALUE, -0.25)  # eta = 0.56 < 1: converges
    assert len(_path_points(figure)) == 51
    slider.focus()
    for _ in range(2):  # the keyboard moves the slider too: eta = 1.78 > 1 diverges and the path is cut
        tab.keyboard.press("ArrowRight")
    assert slider.input_value() == "0.25"
    assert len(_path_points(figure)) < 51
    assert _title(figure)[0] == "gradient descent, η = 1.78"


def _receptive_field(size: int, k: int, s: int, p: int, d: int, i: int, j: int) -> set:
    """The input cells (padding included, as (row, column) of the unpadded input) that feed output (i, j)."""
    padded = torch.zeros(1, 1, size + 2 * p, size + 2 * p, requires_grad=True)
    torch.nn.functional.conv2d(padded, torch.ones(1, 1, k, k), stride=s, dilation=d)[0, 0, i, j].backward()
    return {(r - p, c - p) for r, c in torch.nonzero(padded.grad[0, 0]).tolist()}


def test_the_convolution_explorer_agrees_with_pytorch(open_page):
    tab = open_page(CH5).page
    figure = _figure(tab)
    for k, s, p, d, i, j in [(3, 1, 1, 1, 0, 0), (5, 2, 2, 1, 2, 1), (3, 2, 1, 2, 1, 2), (2, 3, 0, 3, 0, 0),
                             (1, 1, 2, 1, 10, 3), (4, 1, 0, 2, 0, 0), (5, 1, 0, 3, 0, 0)]:  # fmt: skip
        for label, value in [("kernel", k), ("stride", s), ("padding", p), ("dilation", d),
                             ("chosen output row", i), ("chosen output column", j)]:  # fmt: skip
            _control(figure, label).evaluate(SET_VALUE, value)
        span = d * (k - 1) + 1
        n = torch.nn.functional.conv2d(torch.zeros(1, 1, 7, 7), torch.ones(1, 1, k, k), stride=s, padding=p,
                                       dilation=d).shape[-1] if span <= 7 + 2 * p else 0  # fmt: skip
        formula = next(t for t in _title(figure) if "output size" in t)
        assert formula.endswith(f"= {n}" if n else f"= {(7 + 2 * p - span) // s + 1}, the kernel does not fit")
        outputs = figure.evaluate(MARK_DATA, "concat_1_marks")
        assert len(outputs) == n * n
        inputs = figure.evaluate(MARK_DATA, "concat_0_marks")
        assert len(inputs) == (7 + 2 * p) ** 2
        fed = {(c["r"], c["c"]) for c in inputs if c["kind"] == "feeds the chosen output"}
        if n:
            i, j = min(i, n - 1), min(j, n - 1)  # a slider beyond the grid picks its last cell
            assert fed == _receptive_field(7, k, s, p, d, i, j)
            assert [(c["r"], c["c"]) for c in outputs if c["kind"] == "the chosen output"] == [(i, j)]
        else:
            assert not fed


@pytest.mark.parametrize("name", EXPLORABLE_PAGES)
def test_explorable_controls_are_labelled_and_the_figure_described(open_page, name):
    tab = open_page(name).page
    assert tab.locator("figure.course-explorable").count() >= 1, f"{name}: no explorable figure"
    for index in range(tab.locator("figure.course-explorable").count()):
        figure = _figure(tab, index)
        caption = figure.locator("figcaption").inner_text().strip()
        assert caption, "the figure has no description"
        chart = figure.locator("[role='graphics-document']")
        assert chart.get_attribute("aria-label") == caption, "the chart's text alternative is its description"
        controls = figure.locator(".vega-bind input, .vega-bind select")
        assert controls.count() >= 1
        for c in range(controls.count()):
            name = controls.nth(c).evaluate("e => e.closest('label')?.textContent.trim() ?? ''")
            assert name, "every control has a visible label"


def test_every_page_has_an_icon(open_page):
    tab = open_page("book/intro").page
    href = tab.locator("link[rel='icon']").evaluate("e => e.href")
    response = tab.request.get(href)
    assert response.ok and "svg" in response.headers["content-type"]


def test_a_page_opened_from_disk_fails_gracefully(contexts):
    tab = contexts["light"].new_page()
    errors = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        tab.goto((SITE / f"{CH5}.html").as_uri(), wait_until="load")
        tab.wait_for_function("() => window.courseExplorables")
        tab.evaluate("async () => { await window.courseExplorables; }")
        assert tab.locator("figure.course-explorable.course-live").count() >= 1, "explorables work from disk"
        assert "Opened from disk" in tab.locator(".course-digit-pad").inner_text()
        assert tab.locator(".course-digit-pad-static img").is_visible(), "the pad's static picture stays"
        assert not errors, errors
    finally:
        tab.close()


# Set a control to another of its values (a range: its other end; a menu: another option); return the old one.
OTHER_VALUE = """(e) => {
  const old = e.value;
  const next = e.tagName === 'SELECT'
    ? [...e.options].map((o) => o.value).find((v) => v !== old)
    : String(Number(old) === Number(e.max) ? e.min : e.max);
  e.value = next;
  e.dispatchEvent(new Event('input', {bubbles: true}));
  e.dispatchEvent(new Event('change', {bubbles: true}));
  return old;
}"""


@pytest.mark.parametrize("name", EXPLORABLE_PAGES)
def test_every_control_of_every_explorable_changes_what_it_shows(open_page, name):
    """A reader who moves any slider or picks any option sees the figure change (its drawn SVG differs).

    A control may apply only to some choices of a menu (momentum, to the optimizers that have one): it
    must change the figure for at least one of them.
    """
    tab = open_page(name).page
    drawn = "async (f) => { await f.courseView.runAsync(); return f.courseView.toSVG(); }"
    for index in range(tab.locator("figure.course-explorable").count()):
        figure = _figure(tab, index)
        controls = figure.locator(".vega-bind input, .vega-bind select")
        menus = figure.locator(".vega-bind select")
        options = [menus.nth(m).locator("option").all_text_contents() for m in range(menus.count())]
        settings = [list(choice) for choice in itertools.product(*options)] or [[]]
        for c in range(controls.count()):
            control = controls.nth(c)
            label = control.evaluate("e => e.closest('label')?.textContent.trim()")
            changed = []
            for setting in settings:
                for m, option in enumerate(setting):
                    menus.nth(m).select_option(option)
                before = figure.evaluate(drawn)
                old = control.evaluate(OTHER_VALUE)
                changed.append(figure.evaluate(drawn) != before)
                control.evaluate(SET_VALUE, old)  # back, so the next control starts from the first view
            assert any(changed), f"{name}, figure {index}: moving {label!r} changed nothing"
