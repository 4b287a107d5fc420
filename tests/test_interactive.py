"""The interactive pieces without a browser: explorable figures, quizzes and the digit pad's model.

The browser tests (`test_interactive_pages.py`) drive the same pieces in the built book.
"""

import base64
import copy
import html
import json
import re

import numpy as np
import pytest
import torch
from torch import nn

import course_utils as cu
from course_utils import quizzes as quiz_module
from course_utils.digit_pad import export_onnx

# --- explorable figures --------------------------------------------------------------------------


def _tiny_chart():
    import altair as alt

    rate = alt.param(name="rate", value=1, bind=alt.binding_range(min=0, max=3, step=1, name="rate "))
    data = alt.Data(values=[{"x": i, "y": i * i} for i in range(10)])
    return alt.Chart(data).mark_line().encode(x="x:Q", y="y:Q").add_params(rate).transform_filter("datum.x < 3 * rate")


def _spec_of(html_text: str) -> dict:
    found = re.search(r'<script type="application/json" class="course-explorable-spec">(.*?)</script>', html_text)
    assert found, "the explorable's HTML carries no spec"
    return json.loads(found.group(1).replace("<\\/", "</"))


def test_explorable_output_has_live_spec_static_image_and_pdf():
    figure = cu.explorable(_tiny_chart(), "A parabola, cut where the slider says.")
    bundle = figure._repr_mimebundle_()
    assert set(bundle) == {"text/html", "application/pdf", "text/plain"}
    assert base64.b64decode(bundle["application/pdf"]).startswith(b"%PDF")
    spec = _spec_of(bundle["text/html"])
    assert spec["description"] == "A parabola, cut where the slider says."
    assert spec["params"][0]["bind"]["input"] == "range"
    image = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"', bundle["text/html"])
    assert image and image.group(2) == "A parabola, cut where the slider says."
    assert base64.b64decode(image.group(1)).decode().lstrip().startswith("<svg")
    assert "<figcaption>A parabola, cut where the slider says.</figcaption>" in bundle["text/html"]


def test_explorable_keeps_script_text_in_its_spec_inert():
    import altair as alt

    chart = alt.Chart(alt.Data(values=[{"x": 1}])).mark_point().encode(x="x:Q").properties(title="</script><b>")
    text = cu.explorable(chart, "A point.")._repr_mimebundle_()["text/html"]
    assert text.count("</script>") == 1  # only the spec's own closing tag
    assert _spec_of(text)["title"] == "</script><b>"


@pytest.mark.parametrize("description", ["", "   "])
def test_explorable_needs_a_description(description):
    with pytest.raises(ValueError, match="needs a description"):
        cu.explorable(_tiny_chart(), description)


def test_explorable_reports_a_chart_that_vega_lite_rejects():
    spec = dict(_tiny_chart().to_dict(), transform=[{"filter": "datum.x < no_such_param"}])
    with pytest.raises(ValueError, match="cannot render the chart"):
        cu.explorable(spec, "Broken.")


def _runs(betas=(None, 0.0, 0.5)):
    """Gradient descent (beta None) and the heavy ball on the narrow valley, 30 steps."""
    grad = lambda t: np.array([0.04, 2.0]) * t
    runs = []
    for lr in (0.1, 1.0, 10.0):
        for beta in betas:
            theta, velocity, path = np.array([-8.0, 2.0]), 0.0, []
            for _ in range(30):
                path.append(theta.copy())
                velocity = (beta or 0.0) * velocity + grad(theta)
                theta = theta - lr * velocity
            name = "plain" if beta is None else "heavy ball"
            runs.append({"optimizer": name, "lr": lr, "momentum": beta, "path": np.array(path)})
    return runs


def test_path_explorer_encodes_every_run_and_cuts_diverging_paths():
    valley = lambda t: 0.02 * t[..., 0] ** 2 + t[..., 1] ** 2
    runs = _runs()
    figure = cu.path_explorer(runs, valley, (-9, 9, -3, 3), [0.1, 1, 10], "Paths.", threshold=1e-3)
    spec = _spec_of(figure._repr_mimebundle_()["text/html"])
    rows = spec["datasets"]["runs"]
    assert len(rows) == len(runs)
    by_key = {(r["o"], r["e"], r["m"]): r for r in rows}
    assert len(by_key) == len(rows), "two runs share the same controls"
    diverged = by_key["plain", 1.0, -1.0]  # lr 10 on curvature 2: |1 - 20| > 1
    assert len(diverged["s"]) < 30 and max(diverged["l"]) < 1e4
    converged = by_key["plain", -1.0, -1.0]
    assert len(converged["s"]) == 30
    np.testing.assert_allclose(converged["l"], valley(runs[0]["path"]), rtol=5e-3)  # 3 significant digits
    names = [p["name"] for p in spec["params"]]
    assert names == ["optimizer", "log_lr", "momentum"]


def test_path_explorer_without_momentum_has_no_momentum_control():
    valley = lambda t: 0.02 * t[..., 0] ** 2 + t[..., 1] ** 2
    runs = _runs(betas=(None,))
    spec = _spec_of(cu.path_explorer(runs, valley, (-9, 9, -3, 3), [1], "Paths.")._repr_mimebundle_()["text/html"])
    assert [p["name"] for p in spec["params"]] == ["optimizer", "log_lr"]


def test_conv_explorer_carries_the_chapters_table():
    sizes = [
        {"F": f, "S": s, "P": p, "r": 1, "n": (5 + 2 * p - f) // s + 1} for f in (1, 3) for s in (1, 2) for p in (0, 1)
    ]
    spec = _spec_of(cu.conv_explorer(sizes, 5, "Receptive field.")._repr_mimebundle_()["text/html"])
    assert {r["key"]: r["n"] for r in spec["datasets"]["sizes"]}["3,2,1,1"] == 3
    assert len(spec["datasets"]["cells"]) == (5 + 2) ** 2  # the input and a padding ring of 1
    assert [p["name"] for p in spec["params"]] == ["kernel", "stride", "padding", "dilation", "out_row", "out_col"]


# --- quizzes -------------------------------------------------------------------------------------

CHAPTERS_WITH_QUIZZES = sorted(
    p.name.removesuffix(".json") for p in quiz_module.QUIZ_DIR.iterdir() if p.name.endswith(".json")
)


@pytest.mark.parametrize("chapter", CHAPTERS_WITH_QUIZZES)
def test_every_quiz_file_is_valid_and_rendered(chapter):
    quizzes = quiz_module.load_quizzes(chapter)
    for name, questions in quizzes.items():
        shown = cu.quiz(chapter, name)._repr_mimebundle_()
        data = re.search(r'<script type="application/json" class="course-quiz-data">(.*?)</script>', shown["text/html"])
        assert len(json.loads(data.group(1).replace("<\\/", "</"))) == len(questions)
        assert "$" not in data.group(1), "inline math must reach the page as \\( ... \\)"
        assert "window.courseQuiz" in shown["text/html"]
        for question in questions:  # the printed edition lists the questions without the answers
            assert question["question"] in shown["text/markdown"]
            assert all(a["feedback"] not in shown["text/markdown"] for a in question["answers"])


@pytest.mark.parametrize("chapter", ["02_optimizers", "05_cnns"])
def test_chapters_2_and_5_have_at_least_three_questions(chapter):
    assert sum(len(q) for q in quiz_module.load_quizzes(chapter).values()) >= 3


def _choice(answer, correct, feedback="because"):
    return {"answer": answer, "correct": correct, "feedback": feedback}


GOOD_CHOICES = {"question": "Q?", "type": "multiple_choice", "answers": [_choice("a", True), _choice("b", False)]}
GOOD_NUMERIC = {"question": "Q?", "type": "numeric", "answers": [
    {"type": "value", "value": 2, "correct": True, "feedback": "yes"},
    {"type": "default", "feedback": "no"}]}  # fmt: skip
BAD_QUESTIONS = {
    "no question text": ({"type": "numeric", "answers": GOOD_NUMERIC["answers"]}, "'question' text"),
    "unknown type": (dict(GOOD_CHOICES, type="essay"), "'type' must be one of"),
    "one answer": (dict(GOOD_CHOICES, answers=[_choice("a", True)]), "at least two"),
    "no feedback": (dict(GOOD_CHOICES, answers=[_choice("a", True), _choice("b", False, "")]), "'feedback' text"),
    "two correct choices": (dict(GOOD_CHOICES, answers=[_choice("a", True), _choice("b", True)]), "exactly one"),
    "no correct choice": (dict(GOOD_CHOICES, answers=[_choice("a", False), _choice("b", False)]), "exactly one"),
    "a choice of math only": (dict(GOOD_CHOICES, answers=[_choice("$x^2$", True), _choice("b", False)]), "only math"),
    "correct is a string": (dict(GOOD_CHOICES, answers=[_choice("a", "yes"), _choice("b", False)]), "true or false"),
    "value not a number": (
        dict(GOOD_NUMERIC, answers=[dict(GOOD_NUMERIC["answers"][0], value="2"), GOOD_NUMERIC["answers"][1]]),
        "number 'value'",
    ),  # fmt: skip
    "reversed range": (
        dict(
            GOOD_NUMERIC,
            answers=[{"type": "range", "range": [3, 1], "correct": True, "feedback": "x"}, GOOD_NUMERIC["answers"][1]],
        ),
        "low <= high",
    ),  # fmt: skip
    "no default": (dict(GOOD_NUMERIC, answers=[GOOD_NUMERIC["answers"][0]] * 2), "'default' answer"),
    "nothing correct": (
        dict(GOOD_NUMERIC, answers=[dict(GOOD_NUMERIC["answers"][0], correct=False), GOOD_NUMERIC["answers"][1]]),
        "must be correct",
    ),  # fmt: skip
}


@pytest.fixture
def quiz_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(quiz_module, "QUIZ_DIR", tmp_path)
    return tmp_path


def _write(folder, content, name="99_test"):
    (folder / f"{name}.json").write_text(content if isinstance(content, str) else json.dumps(content))


def test_a_good_quiz_file_loads(quiz_dir):
    _write(quiz_dir, {"q": [GOOD_CHOICES, GOOD_NUMERIC]})
    assert len(cu.quiz("99_test", "q").questions) == 2


@pytest.mark.parametrize("case", sorted(BAD_QUESTIONS))
def test_a_malformed_question_is_named_in_the_error(quiz_dir, case):
    question, message = BAD_QUESTIONS[case]
    _write(quiz_dir, {"q": [GOOD_CHOICES, question]})
    with pytest.raises(quiz_module.QuizError, match=re.escape(message)) as error:
        cu.quiz("99_test", "q")
    assert "99_test.json, quiz 'q', question 2" in str(error.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ([], "must map quiz names"), ({"q": []}, "non-empty list of questions")],
)
def test_a_malformed_quiz_file_is_reported(quiz_dir, content, message):
    _write(quiz_dir, content)
    with pytest.raises(quiz_module.QuizError, match=message):
        cu.quiz("99_test", "q")


def test_missing_quiz_files_and_names_list_what_exists(quiz_dir):
    _write(quiz_dir, {"first": [GOOD_CHOICES]})
    with pytest.raises(quiz_module.QuizError, match=r"no quiz file for chapter '98_none'.*\['99_test'\]"):
        cu.quiz("98_none", "first")
    with pytest.raises(quiz_module.QuizError, match=r"has no quiz 'second'; it has \['first'\]"):
        cu.quiz("99_test", "second")


# --- the digit pad's model -----------------------------------------------------------------------


def _small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 12 * 12, 10))


def test_exported_model_computes_what_pytorch_computes():
    import onnx
    from onnx.reference import ReferenceEvaluator

    model, image = _small_cnn().eval(), torch.randn(1, 1, 28, 28)
    proto = onnx.load_from_string(export_onnx(model))
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["probabilities", "feature_maps"]
    probabilities, maps = ReferenceEvaluator(proto).run(None, {"image": image.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(probabilities, torch.softmax(model(image), dim=1).numpy(), atol=1e-6)
        np.testing.assert_allclose(maps, model[:2](image).numpy(), atol=1e-5)  # first conv and its ReLU


def test_export_leaves_the_model_as_it_was():
    model = _small_cnn().train()
    before = copy.deepcopy(model.state_dict())
    export_onnx(model)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    ("model", "message"),
    [(nn.Linear(784, 10), "needs an nn.Sequential"), (nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), "no nn.Conv2d")],
)
def test_digit_pad_rejects_models_it_cannot_show(model, message):
    with pytest.raises(ValueError, match=message):
        cu.digit_pad(model, torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.int64))


def test_digit_pad_rejects_badly_shaped_examples():
    with pytest.raises(ValueError, match=r"expected examples of shape \(K, 1, 28, 28\) and K labels"):
        cu.digit_pad(_small_cnn(), torch.zeros(2, 28, 28), torch.zeros(2, dtype=torch.int64))


def test_digit_pad_output_embeds_the_model_and_the_examples():
    images = torch.rand(3, 1, 28, 28)
    standardised = (images - cu.data.MNIST_MEAN) / cu.data.MNIST_STD
    output = cu.digit_pad(_small_cnn(), standardised, torch.tensor([4, 2, 7]))._repr_mimebundle_()
    config = re.search(r'class="course-digit-pad-config">(.*?)</script>', output["text/html"]).group(1)
    config = json.loads(html.unescape(config))
    assert base64.b64decode(config["model"]).startswith(b"\x08")  # an ONNX protobuf: ir_version first
    assert config["labels"] == [4, 2, 7]
    np.testing.assert_array_equal(np.array(config["examples"][1]), (images[1, 0] * 255).round().flatten().numpy())
    assert base64.b64decode(output["image/png"]).startswith(b"\x89PNG")
