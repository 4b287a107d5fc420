# The two commands of the README: `make book` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MATHJAX := book/_static/mathjax/tex-chtml.js
VENDOR  := book/_static/vendor/.copied
ASSETS  := $(MATHJAX) $(VENDOR)

.PHONY: book site test setup test-unit test-notebooks test-book test-browser sync-colab benchmark clean \
        student book-student grade lint

## book: install what is needed, execute every chapter, build the HTML book
book: setup $(ASSETS)
	$(BIN)/jupyter-book build . --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html"

## site: the strict build that .github/workflows/deploy.yml publishes to GitHub Pages
site: setup $(ASSETS)
	$(MAKE) test-book

## student: a student version of every chapter in student/ (solutions replaced by stubs)
student: setup
	$(BIN)/python -m tools.assign book/ -o student/

## book-student: the student edition of the book, without solutions, in _build/student-html
STUDENT_BRANCH ?= student
book-student: setup $(ASSETS)
	$(BIN)/python -m tools.assign . --site -o _build/student-src --branch $(STUDENT_BRANCH)
	$(BIN)/jupyter-book build _build/student-src --keep-going
	rm -rf _build/student-html
	mv _build/student-src/_build/html _build/student-html
	@echo "The student edition is at $(CURDIR)/_build/student-html/index.html"

## grade: run the self-checks of every notebook under SUBMISSIONS; scores.csv and scores.json
SUBMISSIONS ?= submitted
grade: setup
	$(BIN)/python -m tools.grade $(SUBMISSIONS) -o scores.csv -o scores.json

## test: lint, unit tests, every notebook through nbmake, the strict book build, browser tests
test: setup $(ASSETS)
	$(MAKE) lint test-unit test-notebooks test-book test-browser

## lint: ruff (lint and format) on the Python files and notebooks; committed notebooks without outputs
##       (nbstripout --keep-id: the cells' ids stay, nbstripout would renumber them)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	notebooks="$$(git ls-files '*.ipynb')" && test -n "$$notebooks" && $(BIN)/nbstripout --verify --keep-id $$notebooks

## setup: a virtual environment with the pinned requirements and course_utils (editable)
setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# MathJax is served by the book itself, so math renders offline and without a CDN.
$(MATHJAX): node_modules/.package-lock.json
	rm -rf book/_static/mathjax
	cp -r node_modules/mathjax/es5 book/_static/mathjax

# The scripts of the interactive pieces (book/_ext/interactive.py), served by the book itself:
# Vega, Vega-Lite and vega-embed for explorable figures, ONNX Runtime Web (wasm) for the digit pad.
VENDOR_FILES := node_modules/vega/build/vega.min.js node_modules/vega-lite/build/vega-lite.min.js \
	node_modules/vega-embed/build/vega-embed.min.js node_modules/onnxruntime-web/dist/ort.wasm.min.js \
	node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.mjs node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm
$(VENDOR): node_modules/.package-lock.json
	rm -rf book/_static/vendor
	mkdir -p book/_static/vendor/licenses
	cp $(VENDOR_FILES) book/_static/vendor/
	for p in vega vega-lite vega-embed; do cp node_modules/$$p/LICENSE book/_static/vendor/licenses/$$p.txt; done  # ONNX Runtime Web: MIT, in its header
	touch $@

test-unit:
	$(BIN)/python -m pytest tests -m "not browser"

test-notebooks:
	cd book && $(abspath $(BIN))/python -m pytest --nbmake --nbmake-timeout=600 -p no:cacheprovider .

test-book:
	rm -rf _build/html _build/jupyter_execute
	$(BIN)/jupyter-book build . -W -n --keep-going

test-browser:
	$(BIN)/python -m pytest tests -m browser

## sync-colab: rewrite every chapter's Colab set-up cell from _config.yml's repository
sync-colab: setup
	$(BIN)/python -m tools.nbtools sync-colab

## benchmark: execute every notebook, time it, compare the CNN with the baseline (not a test; minutes)
##            report in benchmarks/reports/local/; e.g. make benchmark BENCHMARK_ARGS="--device cuda"
benchmark: setup
	$(BIN)/python -m benchmarks.run $(BENCHMARK_ARGS)

clean:
	rm -rf _build student test-artifacts book/_static/mathjax book/_static/vendor
