"""Notebook hygiene and the chapter format, checked statically for every notebook in book/."""

import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from tools import chapter_format as cf
from tools import nbtools
from tools.chapter_format import ROOT

NOTEBOOKS = cf.notebooks()
CHAPTERS = [p for p in NOTEBOOKS if re.match(r"\d\d_", p.name)]  # numbered chapters; others are appendices
ids = [p.name for p in NOTEBOOKS]


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.fixture(params=NOTEBOOKS, ids=ids)
def nb(request):
    return nbformat.read(request.param, as_version=4)


@pytest.fixture(params=CHAPTERS, ids=[p.name for p in CHAPTERS])
def chapter(request):
    return nbformat.read(request.param, as_version=4)


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 1


def test_valid_nbformat_with_a_python_kernelspec(nb):
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["kernelspec"]["language"] == "python"


def test_outputs_and_execution_counts_are_cleared(nb):
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} carry outputs: run `python -m tools.nbtools clear <notebook>`"


def test_first_code_cell_is_the_colab_setup_from_config(nb):
    first = cf.code_cells(nb)[0]
    assert first.metadata.get("tags") == cf.COLAB_TAGS, "run `make sync-colab`"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[1] is first, "the set-up cell follows the title"
    assert first.source == nbtools.colab_cell_source(), "run `make sync-colab`"
    url, branch = cf.repository()
    assert f"git+{url}@{branch}" in first.source and 'if "google.colab" in sys.modules:' in first.source


def test_colab_cell_installs_from_the_configured_repository():
    config = cf.config()
    url, branch = config["repository"]["url"], config["repository"]["branch"]
    assert f'"course-utils @ git+{url}@{branch}"' in nbtools.colab_cell_source()


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    toc = cf.pages(cf.site_map())
    for path in NOTEBOOKS:
        assert path.relative_to(ROOT).with_suffix("").as_posix() in toc, f"{path.name} is not in _toc.yml"
    for entry in toc:
        assert any((ROOT / f"{entry}{suffix}").exists() for suffix in (".ipynb", ".md")), entry


def test_chapter_skeleton(chapter):
    nb = chapter
    text = _markdown(nb)
    assert re.search(r"^\(ch-[a-z-]+\)=\s*\n# [A-Z]", text, re.M), "a (ch-label)= target and '# Title'"
    assert not re.search(r"^# \d", text, re.M), "no hand-written chapter number: _toc.yml numbers chapters"
    for heading in ("**What you will learn**", "**What you need**", "## Summary", "## Exercises", "## Further reading"):
        assert heading in text, f"missing {heading}"
    code = "\n".join(c.source for c in cf.code_cells(nb))
    assert "cu.set_seed(" in code and "cu.set_style()" in code


def test_exercises_have_gated_solutions_and_self_checks(chapter):
    nb = chapter
    labels = re.findall(r":::\{exercise\}.*\n:label: ([\w-]+)", _markdown(nb))
    assert len(labels) >= 3, "at least three exercises"
    cells = nb.cells
    for label in labels:
        start = next(i for i, c in enumerate(cells) if c.source.startswith(f":::{{solution-start}} {label}"))
        assert ":class: dropdown" in cells[start].source
        end = next(i for i in range(start, len(cells)) if ":::{solution-end}" in cells[i].source)
        solution = [c for c in cells[start:end] if c.cell_type == "code"]
        assert solution, f"{label}: no solution code"
        for cell in solution:
            assert cf.SOLUTION in cf.tags(cell)
            assert cf.BEGIN in cell.source and cf.END in cell.source
            assert cell.metadata["nbgrader"]["solution"] is True
        following = []  # the cells after the solution, up to the next exercise
        for cell in cells[end + 1 :]:
            if cell.source.startswith(":::{exercise}"):
                break
            following.append(cell)
        checks = [c for c in following if c.cell_type == "code" and cf.SELF_CHECK in cf.tags(c)]
        assert checks, f"{label}: a code cell tagged self-check must follow the solution"
        assert re.search(r"cu\.check_\w+\(", checks[0].source), f"{label}: the self-check cell must call cu.check_..."


def _glue_patterns(nb) -> list[str]:
    """Regexes of the names glued in code; f-string names like f"ch2_b{size}_steps" become ch2_b\\w+_steps."""
    code = "\n".join(c.source for c in cf.code_cells(nb))
    names = re.findall(r"glue\(\s*f?[\"']([^\"']+)[\"']", code)
    return [re.sub(r"\\\{[^}]*\\\}", r"\\w+", re.escape(name)) for name in names]


def test_every_glued_name_used_in_prose_is_glued_in_code(nb):
    used = set(re.findall(r"\{glue:(?:text|)\}`([\w]+)", _markdown(nb)))
    patterns = _glue_patterns(nb)
    missing = [name for name in used if not any(re.fullmatch(p, name) for p in patterns)]
    assert not missing, f"glue names used but never glued: {sorted(missing)}"


def test_glue_names_are_unique_across_the_book():
    seen = {}
    for path in NOTEBOOKS:
        code = "\n".join(c.source for c in cf.code_cells(nbformat.read(path, as_version=4)))
        for name in set(re.findall(r"glue\(\s*[\"'](\w+)[\"']", code)):
            assert name not in seen, f"{name} glued in {seen.get(name)} and {path.name}"
            seen[name] = path.name


def test_plotting_cells_have_alt_text(nb):
    plotting = [c for c in cf.code_cells(nb) if re.search(r"plt\.show\(\)|cu\.(plot_\w+|show_digits)\(", c.source)]
    for cell in plotting:
        alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
        assert len(alt) > 30, f"figure without meaningful alt text: {cell.source[:60]!r}"


def test_course_utils_is_pip_installable(tmp_path):
    source = tmp_path / "src"  # a copy, so the build leaves nothing behind in the repository
    shutil.copytree(
        cf.BOOK / "course_utils", source / "book" / "course_utils", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    target = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    installed = {p.relative_to(target).as_posix() for p in (target / "course_utils").rglob("*.py")}
    assert {"course_utils/__init__.py", "course_utils/checks/__init__.py", "course_utils/train.py"} <= installed


def test_course_utils_holds_only_what_the_chapters_import():
    # Every module of the learner's package is loaded by `import course_utils as cu`: the package
    # holds what the chapters use, and the instructor tools live in tools/.
    files = {p.relative_to(cf.BOOK).with_suffix("").as_posix() for p in (cf.BOOK / "course_utils").rglob("*.py")}
    modules = {name.removesuffix("/__init__") for name in files}
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, course_utils; print(*sorted(m for m in sys.modules if m.startswith('course_utils')))",
        ],
        capture_output=True,
        text=True,
        cwd=cf.BOOK,
        check=True,
    ).stdout.split()
    loaded = {m.replace(".", "/") for m in loaded}
    assert modules == loaded, f"not loaded by `import course_utils`: {sorted(modules - loaded)}"


DEVICE_USE = re.compile(r"get_device\(|\.to\(device|device=|cu\.fit\(|load_mnist\(")


def test_each_notebook_uses_the_device_or_says_why_not(nb):
    # A forced-CUDA run (gpu.yml, the benchmark) expects every notebook to use the GPU, except one
    # that declares in its metadata `course.cpu_only` why it cannot: NumPy alone, no model.
    code = "\n".join(c.source for c in cf.code_cells(nb))
    reason = cf.cpu_only_reason(nb)
    if reason is None:
        assert "get_device(" in code, (
            "the notebook never calls cu.get_device(), so on a GPU it would stay on "
            "the CPU; pick the device with it, or declare metadata course.cpu_only "
            "with the reason"
        )
    else:
        assert isinstance(reason, str) and len(reason) > 20, "course.cpu_only should say why, in words"
        found = sorted(set(DEVICE_USE.findall(code)))
        assert not found, f"declared CPU-only ({reason!r}) but uses a device or trains with cu: {found}"
