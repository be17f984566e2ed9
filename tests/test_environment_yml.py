"""Offline consistency checks for the repo's environment files.

No conda channel is reachable here or in CI, so `conda env create` cannot be
run. Instead we check that environment.yml lists exactly the packages of
pyproject.toml ([project].dependencies + the `notebooks` and `test` extras +
[build-system].requires) with identical version bounds, that the license is
an SPDX expression (no setuptools deprecation warning), and that the Makefile
/ .ci/run entry points exist.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# Extras of pyproject.toml that environment.yml must mirror.
EXTRAS = ("notebooks", "test")

# conda-forge name -> PyPI name, where they differ.
CONDA_TO_PYPI = {
    "matplotlib-base": "matplotlib",
}

# Entries of environment.yml that are not project requirements.
CONDA_ONLY = {"python", "pip"}

_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def _norm_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip().lower())


def _norm_spec(spec: str) -> tuple[str, ...]:
    """'>=6.29, <7' -> ('<7', '>=6.29'): order- and whitespace-insensitive."""
    spec = re.sub(r"\s+", "", spec)
    if not spec:
        return ()
    return tuple(sorted(spec.split(",")))


def _parse_pep508(req: str) -> tuple[str, tuple[str, ...]]:
    assert ";" not in req, f"environment markers not supported by this check: {req!r}"
    assert "@" not in req, f"direct references not supported by this check: {req!r}"
    m = _NAME_RE.match(req)
    assert m, f"cannot parse requirement {req!r}"
    name, _extras, spec = m.groups()
    return _norm_name(name), _norm_spec(spec.strip("()"))


def _parse_conda(dep: str) -> tuple[str, tuple[str, ...]]:
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$", dep)
    assert m, f"cannot parse conda dependency {dep!r}"
    name, spec = m.groups()
    assert "::" not in dep, f"channel-qualified dependency not expected: {dep!r}"
    return _norm_name(name), _norm_spec(spec)


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def env() -> dict:
    with open(REPO / "environment.yml", encoding="utf-8") as f:
        data = yaml.safe_load(f)
    assert isinstance(data, dict), "environment.yml must be a mapping"
    return data


@pytest.fixture(scope="module")
def conda_deps(env) -> tuple[list[str], list]:
    """(plain string deps, pip sub-list entries)."""
    deps = env.get("dependencies")
    assert isinstance(deps, list) and deps, "environment.yml: empty 'dependencies'"
    strings, pip_lists = [], []
    for d in deps:
        if isinstance(d, str):
            strings.append(d)
        elif isinstance(d, dict) and set(d) == {"pip"}:
            pip_lists.append(d["pip"])
        else:
            pytest.fail(f"environment.yml: unexpected dependency entry {d!r}")
    assert len(pip_lists) == 1, "environment.yml: expected exactly one 'pip:' section"
    return strings, pip_lists[0]


def test_name_and_channels(env):
    assert env.get("name") == "defragsim"
    assert env.get("channels") == ["conda-forge", "nodefaults"], (
        f"channels must be exactly [conda-forge, nodefaults], got {env.get('channels')!r}"
    )


def test_python_pinned_to_311(conda_deps, pyproject):
    strings, _ = conda_deps
    pythons = [_parse_conda(d) for d in strings if _parse_conda(d)[0] == "python"]
    assert pythons == [("python", ("=3.11",))], f"expected 'python=3.11', got {pythons!r}"
    # 3.11 must satisfy requires-python (a simple '>=X.Y' lower bound).
    rp = pyproject["project"].get("requires-python", "")
    m = re.fullmatch(r"\s*>=\s*(\d+)\.(\d+)\s*", rp)
    assert m, f"unexpected requires-python {rp!r}; update this test"
    assert (3, 11) >= (int(m[1]), int(m[2])), f"python=3.11 violates requires-python {rp!r}"


def test_pip_and_editable_install(conda_deps):
    strings, pip_list = conda_deps
    assert "pip" in [s.strip() for s in strings], "environment.yml must list 'pip'"
    assert pip_list == ["-e ."], f"pip section must be exactly ['-e .'], got {pip_list!r}"


def test_packages_match_pyproject(conda_deps, pyproject):
    strings, _ = conda_deps
    project = pyproject["project"]
    extras = project.get("optional-dependencies", {})
    reqs = list(project.get("dependencies", [])) + list(pyproject["build-system"]["requires"])
    for extra in EXTRAS:
        assert extra in extras, f"pyproject.toml has no [{extra}] extra"
        reqs += extras[extra]

    expected: dict[str, tuple[str, ...]] = {}
    for r in reqs:
        name, spec = _parse_pep508(r)
        if name in expected and expected[name] != spec:
            pytest.fail(f"pyproject lists {name} twice with different bounds")
        expected[name] = spec

    actual: dict[str, tuple[str, ...]] = {}
    for d in strings:
        cname, spec = _parse_conda(d)
        if cname in CONDA_ONLY:
            continue
        name = CONDA_TO_PYPI.get(cname, cname)
        assert name not in actual, f"environment.yml lists {cname} more than once"
        actual[name] = spec

    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong = sorted(
        f"{n}: pyproject {','.join(expected[n]) or '(any)'} "
        f"vs environment.yml {','.join(actual[n]) or '(any)'}"
        for n in set(expected) & set(actual)
        if expected[n] != actual[n]
    )
    problems = []
    if missing:
        problems.append(f"missing from environment.yml: {missing}")
    if extra:
        problems.append(f"in environment.yml but not in pyproject: {extra}")
    if wrong:
        problems.append("different bounds: " + "; ".join(wrong))
    assert not problems, "\n".join(problems)


def test_license_is_an_spdx_expression(pyproject):
    # PEP 639: a plain SPDX string; the table form ({text = ...}) makes
    # setuptools >= 77 print a deprecation warning on every install
    assert pyproject["project"]["license"] == "GPL-2.0-only"
    assert not any(c.startswith("License ::") for c in pyproject["project"].get("classifiers", []))
    bounds = dict(_parse_pep508(r) for r in pyproject["build-system"]["requires"])
    assert bounds.get("setuptools") == (">=77",), bounds


def test_dev_tasks():
    src = (REPO / "dev.py").read_text()
    for task in ("demo", "test", "lab"):
        assert f'"{task}": task_{task}' in src, f"dev.py has no {task} task"


def test_readme_starts_with_the_two_commands():
    lines = [l.strip() for l in (REPO / "README.md").read_text().splitlines()]
    cmds = [l for l in lines if l.startswith("python3 dev.py")]
    assert cmds[:2] == ["python3 dev.py demo", "python3 dev.py test"], cmds[:2]


def test_ci_run_is_executable_and_runs_the_readme_test_command():
    run = REPO / ".ci" / "run"
    assert run.is_file(), ".ci/run is missing"
    assert os.access(run, os.X_OK), ".ci/run is not executable"
    code = [ln for ln in run.read_text().splitlines() if not ln.lstrip().startswith("#")]
    assert any(re.search(r"python3 dev.py test", ln) for ln in code), ".ci/run does not run 'python3 dev.py test'"
    assert any(re.search(r"\btimeout\b", ln) for ln in code), ".ci/run has no outer timeout"
