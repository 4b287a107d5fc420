// Quizzes (course_utils.quiz): build each .course-quiz from its JSON and check answers in the page.
// This script travels inside every quiz output, so a quiz works in the book, in Jupyter and in Colab;
// the guard below makes the second and later copies on a page reuse the first one's functions.
(function () {
  "use strict";
  if (!window.courseQuiz) {
    const el = function (tag, attrs, children) {
      const node = document.createElement(tag);
      Object.entries(attrs || {}).forEach(function ([key, value]) {
        if (key === "html") node.innerHTML = value;
        else if (key === "text") node.textContent = value;
        else node.setAttribute(key, value);
      });
      (children || []).forEach(function (child) { node.appendChild(child); });
      return node;
    };
    const typeset = function (node) {
      if (window.MathJax && window.MathJax.typesetPromise) window.MathJax.typesetPromise([node]).catch(function () {});
    };
    const say = function (feedback, verdict, text) {
      feedback.className = "course-quiz-feedback " + verdict;
      feedback.innerHTML = "<strong>" + { right: "Correct.", wrong: "Not quite.", invalid: "Not a number." }[verdict] +
        "</strong> " + text;
      typeset(feedback);
    };
    const parseNumber = function (text) {
      const clean = text.trim().replace(/\u2212/g, "-").replace(/,/g, ".").replace(/\s+/g, "");
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(\/[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)?$/.test(clean)) return NaN;
      const parts = clean.split("/").map(Number);
      return parts.length === 2 ? parts[0] / parts[1] : parts[0];
    };
    const matches = function (answer, x, precision) {
      const round = function (v) { return precision ? Number(Number(v).toPrecision(precision)) : Number(v); };
      if (answer.type === "value") return round(x) === round(answer.value);
      if (answer.type === "range") return x >= answer.range[0] && x <= answer.range[1];
      return true; // "default": any other number
    };
    const choiceQuestion = function (question, id, feedback) {
      const group = el("fieldset", {}, [el("legend", { html: question.question })]);
      question.answers.forEach(function (answer, k) {
        const input = el("input", { type: "radio", name: id, id: id + "-" + k, value: String(k) });
        input.addEventListener("change", function () {
          say(feedback, answer.correct ? "right" : "wrong", answer.feedback);
        });
        group.appendChild(el("div", { class: "course-quiz-choice" },
          [input, el("label", { for: id + "-" + k, html: answer.answer })]));
      });
      return group;
    };
    const numericQuestion = function (question, id, feedback) {
      const input = el("input", { type: "text", id: id, inputmode: "decimal", autocomplete: "off" });
      const button = el("button", { type: "submit", text: "Check" });
      const form = el("form", { class: "course-quiz-numeric" }, [
        el("p", { class: "course-quiz-question", html: question.question }),
        el("label", { for: id, text: "Your answer " }), input, button]);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        const x = parseNumber(input.value);
        if (Number.isNaN(x)) {
          say(feedback, "invalid", "Type a number such as 0.25, -3, 1e-3 or 1/4.");
          return;
        }
        const answer = question.answers.find(function (a) { return matches(a, x, question.precision); });
        say(feedback, answer.correct ? "right" : "wrong", answer.feedback);
      });
      return form;
    };
    window.courseQuiz = {
      init: function (root) {
        if (root.dataset.ready) return;
        root.dataset.ready = "1";
        const questions = JSON.parse(root.querySelector("script.course-quiz-data").textContent);
        const prefix = "quiz-" + root.dataset.quiz.replace(/[^A-Za-z0-9_-]/g, "-");
        questions.forEach(function (question, n) {
          const id = prefix + "-q" + (n + 1);
          const feedback = el("p", { class: "course-quiz-feedback", role: "status", "aria-live": "polite" });
          const body = question.type === "numeric" ? numericQuestion(question, id, feedback)
            : choiceQuestion(question, id, feedback);
          root.appendChild(el("div", { class: "course-quiz-item", "data-type": question.type }, [body, feedback]));
        });
        typeset(root);
      },
    };
  }
  const roots = document.querySelectorAll(".course-quiz");
  roots.forEach(function (root) { window.courseQuiz.init(root); });
})();
