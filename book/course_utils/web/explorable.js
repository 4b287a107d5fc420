// Explorable figures (course_utils.explore): each <figure class="course-explorable"> carries its
// Vega-Lite spec in a <script type="application/json">; render it live with vega-embed, in place of
// the static image that the figure shows without JavaScript. The book serves vega, vega-lite and
// vega-embed from _static/vendor (book/_ext/interactive.py adds them to the pages that need them).
(function () {
  "use strict";

  function render(figure) {
    const view = figure.querySelector(".course-explorable-view");
    const spec = JSON.parse(figure.querySelector("script.course-explorable-spec").textContent);
    if (typeof window.vegaEmbed !== "function") {
      return Promise.resolve(null); // the static image stays
    }
    return window
      .vegaEmbed(view, spec, { actions: false, renderer: "svg" })
      .then(function (result) {
        figure.courseView = result.view; // for the browser tests
        figure.classList.add("course-live");
        return result.view;
      })
      .catch(function (error) {
        console.warn("explorable figure could not be rendered; showing its static image", error);
        return null;
      });
  }

  function renderAll() {
    const figures = Array.from(document.querySelectorAll("figure.course-explorable"));
    window.courseExplorables = Promise.all(figures.map(render));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
