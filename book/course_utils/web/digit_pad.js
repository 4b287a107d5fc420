// Draw a digit (course_utils.digit_pad): the chapter's CNN, exported to ONNX, runs in the page with
// ONNX Runtime Web (served by the book from _static/vendor and loaded when the pad comes into view).
// A drawing is prepared the way MNIST was made: the ink's bounding box scaled to fit 20x20 pixels,
// placed in a 28x28 frame with its centre of mass at pixel (14, 14), standardised like the training set.
(function () {
  "use strict";
  const SIZE = 280; // drawing canvas, in pixels: 10 per MNIST pixel
  const VENDOR = document.currentScript.src.replace(/[^/]*$/, "vendor/");
  let ortReady = null;

  function loadOrt() {
    if (!ortReady) {
      ortReady = new Promise(function (resolve, reject) {
        if (window.ort) return resolve(window.ort);
        const script = document.createElement("script");
        script.src = VENDOR + "ort.wasm.min.js";
        script.onload = function () { resolve(window.ort); };
        script.onerror = function () { reject(new Error("could not load " + script.src)); };
        document.head.appendChild(script);
      }).then(function (ort) {
        ort.env.wasm.wasmPaths = VENDOR;
        ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a static host lacks
        return ort;
      });
    }
    return ortReady;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([key, value]) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  // --- preparing a drawing like an MNIST digit -----------------------------------------------------

  function inkOf(canvas) {
    // Ink in [0, 1] (white paper, black ink) as a Float32Array of SIZE * SIZE.
    const rgba = canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, SIZE, SIZE).data;
    const ink = new Float32Array(SIZE * SIZE);
    for (let i = 0; i < ink.length; i++) ink[i] = 1 - rgba[4 * i] / 255;
    return ink;
  }

  function boundingBox(ink, size) {
    let top = size, bottom = -1, left = size, right = -1;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if (ink[y * size + x] > 0.05) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
      }
    }
    return bottom < 0 ? null : { top: top, left: left, height: bottom - top + 1, width: right - left + 1 };
  }

  function shrink(ink, size, box) {
    // Area-average the box down so that its longer side is 20 pixels (aspect ratio kept).
    const scale = 20 / Math.max(box.height, box.width);
    const h = Math.max(1, Math.round(box.height * scale)), w = Math.max(1, Math.round(box.width * scale));
    const out = new Float32Array(h * w);
    for (let ty = 0; ty < h; ty++) {
      const y0 = box.top + Math.floor((ty * box.height) / h), y1 = box.top + Math.ceil(((ty + 1) * box.height) / h);
      for (let tx = 0; tx < w; tx++) {
        const x0 = box.left + Math.floor((tx * box.width) / w), x1 = box.left + Math.ceil(((tx + 1) * box.width) / w);
        let sum = 0;
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += ink[y * size + x];
        out[ty * w + tx] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
    return { pixels: out, height: h, width: w };
  }

  function centre(patch) {
    // Place the patch in a 28x28 frame so that its centre of mass falls on pixel (14, 14).
    let mass = 0, my = 0, mx = 0;
    for (let y = 0; y < patch.height; y++) {
      for (let x = 0; x < patch.width; x++) {
        const v = patch.pixels[y * patch.width + x];
        mass += v; my += v * y; mx += v * x;
      }
    }
    const dy = Math.round(14 - my / mass), dx = Math.round(14 - mx / mass);
    const frame = new Float32Array(28 * 28);
    for (let y = 0; y < patch.height; y++) {
      for (let x = 0; x < patch.width; x++) {
        const fy = y + dy, fx = x + dx;
        if (fy >= 0 && fy < 28 && fx >= 0 && fx < 28) frame[fy * 28 + fx] = patch.pixels[y * patch.width + x];
      }
    }
    return frame;
  }

  function prepare(ink, size) {
    // Ink (size x size, values 0-1) -> a 28x28 MNIST-like image (values 0-1), or null if empty.
    const box = boundingBox(ink, size);
    return box ? centre(shrink(ink, size, box)) : null;
  }

  // --- the pad ------------------------------------------------------------------------------------

  function Pad(root) {
    this.root = root;
    this.config = JSON.parse(root.querySelector("script.course-digit-pad-config").textContent);
    this.example = 0;
    this.build();
    this.ready = null;
    const self = this;
    if ("IntersectionObserver" in window) {
      const observer = new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) { observer.disconnect(); self.load(); }
      }, { rootMargin: "600px" });
      observer.observe(root);
    }
  }

  Pad.prototype.build = function () {
    const canvas = el("canvas", { width: SIZE, height: SIZE, class: "course-digit-pad-canvas", role: "img",
      "aria-label": "Drawing area: draw a digit from 0 to 9 with a mouse, a finger or a pen" });
    const clear = el("button", { type: "button", text: "Clear" });
    const example = el("button", { type: "button", text: "Show a test digit" });
    const status = el("p", { class: "course-digit-pad-status", role: "status", "aria-live": "polite",
      text: "Draw a digit (0 to 9) in the box." });
    const table = el("table", { class: "course-digit-pad-probabilities" },
      [el("caption", { text: "What the network thinks" }),
       el("thead", {}, [el("tr", {}, [el("th", { scope: "col", text: "digit" }),
         el("th", { scope: "col", text: "probability" })])])]);
    const body = el("tbody");
    this.bars = [];
    for (let k = 0; k < 10; k++) {
      const bar = el("span", { class: "course-digit-pad-bar", "aria-hidden": "true" });
      const value = el("span", { class: "course-digit-pad-value", text: "–" });
      body.appendChild(el("tr", {}, [el("th", { scope: "row", text: String(k) }), el("td", {}, [bar, value])]));
      this.bars.push({ bar: bar, value: value });
    }
    table.appendChild(body);
    this.seen = el("canvas", { width: 28, height: 28, class: "course-digit-pad-seen", role: "img",
      "aria-label": "The drawing as the network sees it: 28 by 28 pixels, centred like an MNIST digit" });
    this.maps = el("div", { class: "course-digit-pad-maps", role: "img",
      "aria-label": "Feature maps of the first convolution for the drawing" });
    const live = el("div", { class: "course-digit-pad-live" }, [
      el("div", { class: "course-digit-pad-row" }, [
        el("div", {}, [canvas, el("div", { class: "course-digit-pad-buttons" }, [clear, example])]),
        el("div", {}, [status, table]),
        el("figure", {}, [this.seen, el("figcaption", { text: "what the network sees (28×28)" })])]),
      el("p", { class: "course-digit-pad-maps-title", text: "Feature maps of the first convolution (after ReLU)" }),
      this.maps]);
    this.root.appendChild(live);
    this.root.classList.add("course-live");
    Object.assign(this, { canvas: canvas, status: status, live: live });
    this.clear();
    this.listen(canvas, clear, example);
  };

  Pad.prototype.listen = function (canvas, clear, example) {
    const self = this, ctx = canvas.getContext("2d", { willReadFrequently: true });
    let drawing = false, last = null, pending = false;
    const point = function (event) {
      const rect = canvas.getBoundingClientRect();
      return [(event.clientX - rect.left) * (SIZE / rect.width), (event.clientY - rect.top) * (SIZE / rect.height)];
    };
    const schedule = function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; self.predict(); });
    };
    canvas.addEventListener("pointerdown", function (event) {
      drawing = true; last = point(event);
      canvas.setPointerCapture(event.pointerId);
      ctx.beginPath(); ctx.arc(last[0], last[1], ctx.lineWidth / 2, 0, 2 * Math.PI); ctx.fill();
      self.load(); schedule();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      const p = point(event);
      ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
      last = p; schedule();
    });
    const stop = function () { if (drawing) { drawing = false; schedule(); } };
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    clear.addEventListener("click", function () { self.clear(); });
    example.addEventListener("click", function () { self.showExample(); });
  };

  Pad.prototype.clear = function () {
    const ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, SIZE, SIZE);
    Object.assign(ctx, { fillStyle: "#000000", strokeStyle: "#000000", lineWidth: 20, lineCap: "round", lineJoin: "round" });
    this.show(null, null);
    this.status.textContent = "Draw a digit (0 to 9) in the box.";
  };

  Pad.prototype.showExample = function () {
    // Draw one of the chapter's test digits on the canvas, 10 screen pixels per MNIST pixel.
    const pixels = this.config.examples[this.example], ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.example = (this.example + 1) % this.config.examples.length;
    this.clear();
    for (let i = 0; i < 784; i++) {
      const v = 255 - pixels[i];
      ctx.fillStyle = "rgb(" + v + "," + v + "," + v + ")";
      ctx.fillRect((i % 28) * 10, Math.floor(i / 28) * 10, 10, 10);
    }
    ctx.fillStyle = "#000000";
    this.load();
    return this.predict();
  };

  Pad.prototype.load = function () {
    if (this.ready) return this.ready;
    const self = this, bytes = Uint8Array.from(atob(this.config.model), function (c) { return c.charCodeAt(0); });
    this.ready = loadOrt()
      .then(function (ort) { return ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] }); })
      .then(function (session) { self.session = session; return session; })
      .catch(function (error) {
        self.status.textContent = "The model could not be loaded here (" + error.message + "). " +
          "It runs on the book's web page when the book is served over HTTP.";
        throw error;
      });
    return this.ready;
  };

  Pad.prototype.run = function (standardised) {
    // Probabilities (10) and first feature maps of a standardised 28x28 image (Float32Array of 784).
    const self = this;
    return this.load().then(function () {
      const image = new window.ort.Tensor("float32", standardised, [1, 1, 28, 28]);
      return self.session.run({ image: image });
    }).then(function (out) {
      return { probabilities: Array.from(out.probabilities.data), maps: out.feature_maps };
    });
  };

  Pad.prototype.standardise = function (frame) {
    const mean = this.config.mean, std = this.config.std;
    return Float32Array.from(frame, function (v) { return (v - mean) / std; });
  };

  Pad.prototype.predict = function () {
    const frame = prepare(inkOf(this.canvas), SIZE), self = this;
    if (!frame) {
      this.clear();
      return Promise.resolve(null);
    }
    if (!this.session) this.status.textContent = "Loading the network…";
    return this.run(this.standardise(frame)).then(function (result) {
      self.show(frame, result);
      return result;
    }).catch(function () { return null; });
  };

  Pad.prototype.show = function (frame, result) {
    drawGrey(this.seen, frame || new Float32Array(784), 28, 28, 1);
    this.bars.forEach(function (b, k) {
      const p = result ? result.probabilities[k] : 0;
      b.bar.style.width = (8 * p).toFixed(2) + "rem";
      b.value.textContent = result ? (100 * p).toFixed(1) + "%" : "–";
    });
    this.maps.replaceChildren();
    if (!result) return;
    const best = result.probabilities.indexOf(Math.max.apply(null, result.probabilities));
    this.status.textContent = "The network reads a " + best + " (" + (100 * result.probabilities[best]).toFixed(1) +
      "% sure).";
    const [, channels, h, w] = result.maps.dims, data = result.maps.data;
    let top = 0;
    for (let i = 0; i < data.length; i++) top = Math.max(top, data[i]);
    for (let c = 0; c < channels; c++) {
      const map = el("canvas", { width: w, height: h, "aria-hidden": "true" });
      drawGrey(map, data.subarray(c * h * w, (c + 1) * h * w), h, w, top || 1, true);
      this.maps.appendChild(map);
    }
  };

  function drawGrey(canvas, values, h, w, top, light) {
    // Values in [0, top] as grey levels: ink dark on white (light=false) or bright on black (light=true).
    const ctx = canvas.getContext("2d", { willReadFrequently: true }), image = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) {
      const level = Math.round(255 * Math.min(1, Math.max(0, values[i] / top)));
      const v = light ? level : 255 - level;
      image.data.set([v, v, v, 255], 4 * i);
    }
    ctx.putImageData(image, 0, 0);
  }

  function start() {
    document.querySelectorAll(".course-digit-pad").forEach(function (root) {
      if (location.protocol === "file:") {
        root.appendChild(el("p", { class: "course-digit-pad-note", text: "Opened from disk, the browser will not " +
          "load the network's runtime. Serve the book to draw here: python -m http.server --directory _build/html" }));
        return;
      }
      root.coursePad = new Pad(root);
    });
    window.courseDigitPad = { prepare: prepare, SIZE: SIZE }; // for the browser tests
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
