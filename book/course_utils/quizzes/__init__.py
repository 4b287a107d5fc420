"""Quizzes: multiple-choice and numeric questions with feedback for every answer, checked in the page.

The questions are data, one JSON file per chapter in ``course_utils/quizzes/`` (installed with the
package, so a quiz works in the book, in Jupyter, in Colab and on Binder), in the format of
jupyterquiz: a file maps quiz names to lists of questions,

    {"step-size": [
        {"question": "...", "type": "multiple_choice",
         "answers": [{"answer": "...", "correct": true, "feedback": "why it is right"},
                     {"answer": "...", "correct": false, "feedback": "why it is wrong"}]},
        {"question": "...", "type": "numeric", "precision": 3,
         "answers": [{"type": "value", "value": 0.5, "correct": true, "feedback": "..."},
                     {"type": "range", "range": [0.9, 1.1], "correct": false, "feedback": "..."},
                     {"type": "default", "feedback": "..."}]}]}

Text may hold inline math as ``$...$`` (as in the chapters) and inline code as ``<code>...</code>``. A chapter shows a
quiz with ``cu.quiz("02_optimizers", "step-size")`` in a cell tagged ``remove-input``. The page
checks answers with a small script carried in the output itself (`web/quiz.js`); no kernel is needed.

Introduced in chapter 2 (`optimizers`).
"""

import html
import json
import re
from dataclasses import dataclass
from importlib.resources import files

QUIZ_DIR = files("course_utils.quizzes")
QUESTION_TYPES = ("multiple_choice", "numeric")
NUMERIC_ANSWER_TYPES = ("value", "range", "default")


class QuizError(ValueError):
    """A quiz file is not in the expected format; the message says where and what to change."""


@dataclass
class Quiz:
    """A list of validated questions, shown as HTML with its checking script when displayed."""

    name: str
    questions: list

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/html": self._html(), "text/markdown": self._markdown(), "text/plain": self._markdown()}

    def _html(self) -> str:
        data = json.dumps(_for_mathjax(self.questions), separators=(",", ":")).replace("</", "<\\/")
        script = (files("course_utils") / "web" / "quiz.js").read_text(encoding="utf-8")
        style = (files("course_utils") / "web" / "quiz.css").read_text(encoding="utf-8")
        return (
            f'<div class="course-quiz mathjax_process" data-quiz="{html.escape(self.name)}">'
            f"<style>{style}</style>"
            f'<script type="application/json" class="course-quiz-data">{data}</script>'
            f"<noscript><p>This quiz checks answers with JavaScript.</p></noscript>"
            f"<script>{script}</script></div>"
        )

    def _markdown(self) -> str:
        """The questions and choices without answers: for the printed edition and plain text."""
        lines = [f"**Quiz** ({len(self.questions)} questions; answers are checked on the book's web page)", ""]
        for number, question in enumerate(self.questions, start=1):
            lines.append(f"{number}. {question['question']}")
            if question["type"] == "multiple_choice":
                lines += [f"    - {answer['answer']}" for answer in question["answers"]]
        return "\n".join(lines)


def load_quizzes(chapter: str) -> dict:
    """Every quiz of a chapter, validated: ``{name: [question, ...]}``.

    Args:
        chapter: the chapter's file name without suffix, e.g. ``"02_optimizers"``.
    Raises:
        QuizError: no such file, or a question is malformed (the message names it).
    """
    path = QUIZ_DIR / f"{chapter}.json"
    if not path.is_file():
        known = sorted(p.name.removesuffix(".json") for p in QUIZ_DIR.iterdir() if p.name.endswith(".json"))
        raise QuizError(f"no quiz file for chapter {chapter!r}; the chapters with quizzes are {known}")
    try:
        quizzes = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise QuizError(f"{path.name} is not valid JSON: {error}") from None
    if not isinstance(quizzes, dict) or not quizzes:
        raise QuizError(f"{path.name} must map quiz names to lists of questions")
    for name, questions in quizzes.items():
        if not isinstance(questions, list) or not questions:
            raise QuizError(f"{path.name}, quiz {name!r}: expected a non-empty list of questions")
        for number, question in enumerate(questions, start=1):
            _check_question(question, f"{path.name}, quiz {name!r}, question {number}")
    return quizzes


def quiz(chapter: str, name: str) -> Quiz:
    """The quiz ``name`` of ``chapter``, ready to display (make it the last expression of a cell).

    Args:
        chapter: the chapter's file name without suffix, e.g. ``"02_optimizers"``.
        name: the quiz's key in that chapter's file.
    Raises:
        QuizError: the file or the quiz does not exist, or a question is malformed.
    """
    quizzes = load_quizzes(chapter)
    if name not in quizzes:
        raise QuizError(f"{chapter}.json has no quiz {name!r}; it has {sorted(quizzes)}")
    return Quiz(f"{chapter}/{name}", quizzes[name])


def _for_mathjax(value):
    """``$...$`` -> ``\\(...\\)`` in every text: the book's MathJax typesets only the latter in HTML."""
    if isinstance(value, str):
        return re.sub(r"\$(.+?)\$", r"\\(\1\\)", value)
    if isinstance(value, list):
        return [_for_mathjax(v) for v in value]
    return {k: _for_mathjax(v) for k, v in value.items()} if isinstance(value, dict) else value


def _check_question(question, where: str) -> None:
    if not isinstance(question, dict) or not isinstance(question.get("question"), str):
        raise QuizError(f"{where}: expected an object with a 'question' text")
    kind, answers = question.get("type"), question.get("answers")
    if kind not in QUESTION_TYPES:
        raise QuizError(f"{where}: 'type' must be one of {QUESTION_TYPES}, got {kind!r}")
    if not isinstance(answers, list) or len(answers) < 2:
        raise QuizError(f"{where}: expected a list of at least two 'answers'")
    if not all(isinstance(a, dict) and isinstance(a.get("feedback"), str) and a["feedback"] for a in answers):
        raise QuizError(f"{where}: every answer needs a 'feedback' text that says why it is right or wrong")
    (_check_choices if kind == "multiple_choice" else _check_numeric)(answers, where)


def _check_choices(answers: list, where: str) -> None:
    if not all(isinstance(a.get("answer"), str) and isinstance(a.get("correct"), bool) for a in answers):
        raise QuizError(f"{where}: every choice needs an 'answer' text and 'correct': true or false")
    if any(not re.sub(r"\$.+?\$", "", a["answer"]).strip() for a in answers):
        raise QuizError(f"{where}: a choice that is only math has no name for screen readers; add words")
    if sum(a["correct"] for a in answers) != 1:
        raise QuizError(f"{where}: exactly one choice must be correct")


def _check_numeric(answers: list, where: str) -> None:
    for answer in answers:
        kind = answer.get("type")
        if kind not in NUMERIC_ANSWER_TYPES:
            raise QuizError(f"{where}: a numeric answer's 'type' must be one of {NUMERIC_ANSWER_TYPES}, got {kind!r}")
        if kind == "value" and not isinstance(answer.get("value"), (int, float)):
            raise QuizError(f"{where}: a 'value' answer needs a number 'value'")
        bounds = answer.get("range")
        if kind == "range" and not (isinstance(bounds, list) and len(bounds) == 2 and bounds[0] <= bounds[1]):
            raise QuizError(f"{where}: a 'range' answer needs 'range': [low, high] with low <= high")
    if not any(a.get("correct") for a in answers):
        raise QuizError(f"{where}: at least one numeric answer must be correct")
    if answers[-1].get("type") != "default" or sum(a.get("type") == "default" for a in answers) != 1:
        raise QuizError(f"{where}: end the answers with one 'default' answer (feedback for any other number)")
