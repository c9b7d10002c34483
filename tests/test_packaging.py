"""The set-up files agree with each other, and CI runs what the README tells a user to run."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}          # pip name -> conda name where they differ


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower()


def _pip_part(env: dict) -> list[str]:
    """The environment's pip: section (packages conda-forge lacks, and the kit itself)."""
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def _listed(env: dict) -> list[str]:
    """Every requirement environment.yml names: conda ones, then pip ones (not `-e .`)."""
    return ([d for d in env["dependencies"] if isinstance(d, str)]
            + [d.split("#")[0].strip() for d in _pip_part(env) if not d.startswith("-e")])


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = {_name(d) for d in _listed(env)}
    missing = {CONDA_NAMES.get(n, n) for n in wanted} - listed
    assert not missing, f"environment.yml lacks {sorted(missing)}"
    extra = listed - {CONDA_NAMES.get(n, n) for n in wanted} - {"python", "pip", "cpuonly"}
    assert not extra, f"environment.yml has {sorted(extra)} that pyproject.toml does not"
    assert "-e ." in _pip_part(env)


def test_versions_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {_name(d): d.replace(" ", "") for d in _listed(env)}
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name = CONDA_NAMES.get(_name(req), _name(req))
        bound = req.replace(" ", "")[len(_name(req)):]
        assert pins[name].endswith(bound), f"{name}: pyproject says {bound!r}, environment.yml {pins[name]!r}"


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ("make setup", "make test"):
        assert command in readme and command in ci
    assert "torch==2.13.0" in (ROOT / "Makefile").read_text()


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["soralite"] == "soralite.cli:main"
