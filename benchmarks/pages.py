"""The book's interactive pages in headless Chromium: the digit pad's speed, model and page sizes.

    python -m benchmarks.pages                  # after `make book` or `make test-book` (needs _build/html)

Measured on the CNN chapter's page, served from 127.0.0.1 as the browser tests serve it:
milliseconds per prediction of the page's model (ONNX Runtime Web, one thread, after a warm-up),
the model's size, and the bytes the page transfers: when it loads, and in all once the pad has
loaded its runtime and made a prediction. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import statistics
from html import unescape
from pathlib import Path

from tools.chapter_format import ROOT

SITE = ROOT / "_build" / "html"
PAGE = "book/05_cnns"
TARGET_MS = 50.0  # the target for one prediction on the 2-core CPU
PAD = "document.querySelector('.course-digit-pad').coursePad"


def model_bytes(site: Path) -> int:
    """Size of the ONNX model that the page carries."""
    html = (site / f"{PAGE}.html").read_text()
    config = json.loads(unescape(re.search(r'class="course-digit-pad-config">(.*?)</script>', html).group(1)))
    return len(base64.b64decode(config["model"]))


def measure(site: Path, repeats: int = 200) -> dict:
    """Load the page, then time ``repeats`` predictions of the pad's model on a test digit."""
    from playwright.sync_api import sync_playwright

    from tests.site_support import CHROMIUM, CHROMIUM_ARGS, StaticServer  # as the browser tests serve the book

    transferred: dict[str, int] = {}
    with StaticServer(site) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.on("requestfinished", lambda r: transferred.__setitem__(r.url, _size(r)))
        tab.goto(f"{server.origin}/{PAGE}.html", wait_until="networkidle")
        on_load = sum(transferred.values())
        tab.locator(".course-digit-pad").scroll_into_view_if_needed()
        tab.wait_for_function(f"() => {PAD} && {PAD}.ready")
        model_times, times = tab.evaluate(
            f"""async (repeats) => {{
              const pad = {PAD};
              await pad.ready;
              await pad.showExample();  // a test digit on the canvas, prepared and predicted once
              const x = pad.standardise(window.courseDigitPad.prepare(
                Float32Array.from(pad.canvas.getContext('2d').getImageData(0, 0, 280, 280).data
                  .filter((_, i) => i % 4 === 0), v => 1 - v / 255), 280));
              for (let i = 0; i < 10; i++) await pad.run(x);  // warm-up
              const model = [], whole = [];
              for (let i = 0; i < repeats; i++) {{
                let start = performance.now();
                await pad.run(x);
                model.push(performance.now() - start);
                start = performance.now();
                await pad.predict();  // the drawing prepared, the model run and the results drawn
                whole.push(performance.now() - start);
              }}
              return [model, whole];
            }}""",
            repeats,
        )
        tab.wait_for_load_state("networkidle")
        browser.close()
    largest = sorted(transferred.items(), key=lambda item: -item[1])[:5]
    return {
        "page": PAGE,
        "model_ms_median": statistics.median(model_times),
        "prediction_ms_median": statistics.median(times),
        "prediction_ms_p90": sorted(times)[int(0.9 * len(times))],
        "predictions": len(times),
        "target_ms": TARGET_MS,
        "model_bytes": model_bytes(site),
        "page_bytes_on_load": on_load,
        "page_bytes_with_pad": sum(transferred.values()),
        "largest_files": [(url.split("/", 3)[-1].split("?")[0], size) for url, size in largest],
    }


def _size(request) -> int:
    sizes = request.sizes()
    return sizes["responseBodySize"] + sizes["responseHeadersSize"]


def summary(result: dict) -> str:
    mb = lambda b: f"{b / 2**20:.2f} MiB"
    met = "met" if result["prediction_ms_median"] < result["target_ms"] else "NOT met"
    return (
        f"Digit pad on {result['page']}: {result['prediction_ms_median']:.1f} ms per prediction, from the drawing "
        f"to the drawn results (median of {result['predictions']}; 90th percentile "
        f"{result['prediction_ms_p90']:.1f} ms; the model alone {result['model_ms_median']:.2f} ms; target < "
        f"{result['target_ms']:.0f} ms: {met}); model {mb(result['model_bytes'])}; the page transfers "
        f"{mb(result['page_bytes_on_load'])} when it loads, {mb(result['page_bytes_with_pad'])} with the pad's runtime "
        "(largest: " + ", ".join(f"{name} {mb(size)}" for name, size in result["largest_files"]) + ")."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=SITE, help="the built book (default: _build/html)")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    if not (args.site / f"{PAGE}.html").is_file():
        parser.error(f"{args.site / PAGE}.html is missing: build the book first (make book)")
    print(summary(measure(args.site, args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
