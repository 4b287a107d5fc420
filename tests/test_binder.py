"""The Binder (repo2docker) configuration in binder/: CPU-only PyTorch, the course, the same versions.

What can be checked without mybinder.org: the files parse, the torch and torchvision pins are the
CPU builds of the versions in requirements.txt, every other pin equals requirements.txt's, every
dependency of the course is pinned, and the course itself is installed. The README says what only a
real launch shows.
"""

import re
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

from tools.chapter_format import ROOT

BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def parse(path: Path) -> tuple[dict, list[str]]:
    """The pinned requirements of a requirements file by name, and its option lines."""
    pins, options = {}, []
    for line in path.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(line)
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: pin {line} exactly"
        pins[requirement.name.lower()] = Version(specifier.version)
    return pins, options


def test_binder_installs_cpu_torch_and_the_course():
    pins, options = parse(BINDER / "requirements.txt")
    assert f"--extra-index-url {CPU_INDEX}" in options
    assert "-e ." in options, "Binder must install course_utils from the cloned repository"
    for package in ("torch", "torchvision"):
        assert pins[package].local == "cpu", f"{package}: use the CPU build ({package}==X+cpu)"


def test_binder_pins_the_versions_the_book_is_built_with():
    pins, _ = parse(BINDER / "requirements.txt")
    built_with, _ = parse(ROOT / "requirements.txt")
    for name, version in pins.items():
        assert name in built_with, f"binder pins {name}, which requirements.txt does not"
        assert version.public == built_with[name].public, (
            f"binder/requirements.txt has {name} {version}, requirements.txt {built_with[name]}"
        )


def test_every_dependency_of_the_course_is_pinned_and_satisfied():
    pins, _ = parse(BINDER / "requirements.txt")
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for line in dependencies:
        requirement = Requirement(line)
        name = requirement.name.lower()
        assert name in pins, f"binder/requirements.txt leaves {name} unpinned"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name} {pins[name]} vs {line}"


def test_binder_python_is_the_one_the_course_is_tested_on():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    from packaging.specifiers import SpecifierSet

    assert SpecifierSet(requires).contains(runtime.removeprefix("python-") + ".0")
    assert runtime.removeprefix("python-") in (ROOT / "README.md").read_text(), "README names the Python version"
