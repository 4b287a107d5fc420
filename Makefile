# The two commands of the README: `make book` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MATHJAX := book/_static/mathjax/tex-chtml.js
VENDOR  := book/_static/vendor/.copied
ASSETS  := $(MATHJAX) $(VENDOR)

.PHONY: book site test setup test-unit test-notebooks test-book test-browser sync-colab benchmark clean \
        student book-student grade lint pdf test-pdf test-student test-site test-browser-student

# The PDF (`make pdf`; _config.yml's latex.latex_documents.targetname, as .pdf) and the site's build configuration
PDF_NAME    := deep-learning-executed.pdf
PDF         := _build/pdf/_build/latex/$(PDF_NAME)
SITE_CONFIG := _build/site-config.yml
# `make site STUDENT_EDITION=no` publishes the instructor edition and its PDF only
STUDENT_EDITION ?= yes
# the site's address, for the PDF's links to the web pages (default: GitHub Pages' address of the repository)
SITE_URL ?=
TEX_PACKAGES := texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended texlive-xetex latexmk \
                fonts-freefont-otf

## book: install what is needed, execute every chapter, build the HTML book
book: setup $(ASSETS)
	$(BIN)/jupyter-book build . --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html"

## site: what .github/workflows/deploy.yml publishes, strictly built, in _build/html: the instructor
##       edition, its PDF ($(PDF_NAME)) and, unless STUDENT_EDITION=no, the student edition in student/.
##       Every chapter executes once for the HTML and the PDF together (see tools/publish.py).
site: setup $(ASSETS)
	$(MAKE) test-book test-pdf $(if $(filter yes,$(STUDENT_EDITION)),test-student)

## pdf: the whole book as one PDF with Jupyter Book's LaTeX builder (XeLaTeX; every chapter executed)
pdf: setup
	@command -v xelatex >/dev/null && command -v latexmk >/dev/null || { \
	  echo "make pdf needs TeX Live: sudo apt-get install $(TEX_PACKAGES)"; exit 1; }
	$(BIN)/jupyter-book build . --builder pdflatex --path-output _build/pdf --keep-going
	@echo "The PDF is at $(CURDIR)/$(PDF)"

## student: a student version of every chapter in student/ (solutions replaced by stubs)
student: setup
	$(BIN)/python -m tools.assign book/ -o student/

## book-student: the student edition of the book, without solutions, in _build/student-html; its sources
##               (what the student branch holds) in _build/student-src
STUDENT_BRANCH ?= student
STUDENT_BUILD_FLAGS ?= --keep-going
book-student: setup $(ASSETS)
	$(BIN)/python -m tools.assign . --site -o _build/student-src --branch $(STUDENT_BRANCH)
	$(BIN)/jupyter-book build _build/student-src $(STUDENT_BUILD_FLAGS)
	rm -rf _build/student-html
	mv _build/student-src/_build/html _build/student-html
	@echo "The student edition is at $(CURDIR)/_build/student-html/index.html"

## grade: run the self-checks of every notebook under SUBMISSIONS; scores.csv and scores.json
SUBMISSIONS ?= submitted
grade: setup
	$(BIN)/python -m tools.grade $(SUBMISSIONS) -o scores.csv -o scores.json

## test: lint, unit tests, every notebook through nbmake, the strict build of the site (book, PDF, student
##       edition), the tests of the PDF and the editions, browser tests of both editions
test: setup $(ASSETS)
	$(MAKE) lint test-unit test-notebooks site STUDENT_EDITION=yes
	$(MAKE) test-site test-browser test-browser-student

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
	$(BIN)/python -m pytest tests -m "not browser and not published"

test-notebooks:
	cd book && $(abspath $(BIN))/python -m pytest --nbmake --nbmake-timeout=600 -p no:cacheprovider .

# the instructor edition, strictly, executing every chapter into a fresh cache that test-pdf reads
test-book:
	rm -rf _build/html _build/jupyter_execute _build/.doctrees _build/.jupyter_cache
	$(BIN)/python -m tools.publish config -o $(SITE_CONFIG) --pdf $(PDF_NAME) \
	  $(if $(filter yes,$(STUDENT_EDITION)),--student-edition student/) $(if $(SITE_URL),--site-url $(SITE_URL))
	$(BIN)/jupyter-book build . --config $(SITE_CONFIG) -W -n --keep-going

# the PDF from test-book's outputs (no chapter executes again), put beside the site's pages
test-pdf:
	@command -v xelatex >/dev/null && command -v latexmk >/dev/null || { \
	  echo "the PDF needs TeX Live: sudo apt-get install $(TEX_PACKAGES)"; exit 1; }
	rm -rf _build/pdf
	$(BIN)/jupyter-book build . --config $(SITE_CONFIG) --builder pdflatex --path-output _build/pdf -W -n --keep-going
	cp $(PDF) _build/html/$(PDF_NAME)

# the student edition, strictly, in the site's student/ folder
test-student:
	$(MAKE) book-student STUDENT_BUILD_FLAGS="-W -n --keep-going"
	rm -rf _build/html/student
	cp -r _build/student-html _build/html/student

# the published site without a browser: the PDF's text, figures and log; no solution in the student edition
test-site:
	$(BIN)/python -m pytest tests -m published

test-browser:
	$(BIN)/python -m pytest tests -m browser

# the same browser tests on the student edition (tests/site_support.py reads these two variables)
test-browser-student:
	COURSE_BOOK_ROOT=_build/student-src COURSE_SITE=_build/html/student $(BIN)/python -m pytest tests -m browser

## sync-colab: rewrite every chapter's Colab set-up cell from _config.yml's repository
sync-colab: setup
	$(BIN)/python -m tools.nbtools sync-colab

## benchmark: execute every notebook, time it, compare the CNN with the baseline (not a test; minutes)
##            report in benchmarks/reports/local/; e.g. make benchmark BENCHMARK_ARGS="--device cuda"
benchmark: setup
	$(BIN)/python -m benchmarks.run $(BENCHMARK_ARGS)

clean:
	rm -rf _build student test-artifacts book/_static/mathjax book/_static/vendor
