"""The GitHub workflows: valid against GitHub's schema, actions pinned to releases, no stored AWS
keys, the policy pack on every preview and deploy, and every command they run exists here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.pulumi_harness import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((REPO / ".github" / "actions").glob("*/action.yml"))
RELEASE_PIN = re.compile(r"^[\w.-]+/[\w./-]+@v\d+\.\d+\.\d+$")


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True; GitHub reads it as "on".
    document = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return document["runs"]["steps"]
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def test_the_expected_workflows_exist() -> None:
    assert {path.stem for path in WORKFLOWS} == {"ci", "preview", "deploy", "retrain"}


def test_workflows_and_actions_are_valid_against_githubs_schemas() -> None:
    for schema, files in (("vendor.github-workflows", WORKFLOWS), ("vendor.github-actions", ACTIONS)):
        result = subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_third_party_action_is_pinned_to_a_release(path: Path) -> None:
    for step in steps(load(path)):
        uses = step.get("uses")
        if uses is None:
            continue
        if uses.startswith("./"):
            assert (REPO / uses / "action.yml").is_file(), uses
        else:
            assert RELEASE_PIN.match(uses), f"{path.name}: {uses} is not pinned to a vX.Y.Z release"


def test_aws_access_is_only_through_oidc_role_assumption() -> None:
    for path in WORKFLOWS:
        document = load(path)
        aws_steps = [s for s in steps(document) if str(s.get("uses", "")).startswith("aws-actions/configure-aws")]
        for step in aws_steps:
            assert set(step["with"]) == {"role-to-assume", "role-session-name", "aws-region"}, path.name
        if aws_steps:
            assert document["permissions"]["id-token"] == "write", path.name
    every_file = "\n".join(path.read_text() for path in WORKFLOWS + ACTIONS)
    assert "AWS_SECRET_ACCESS_KEY" not in every_file and "aws-access-key-id" not in every_file


def test_every_preview_and_deploy_runs_the_policy_pack() -> None:
    pulumi_steps = [
        (path.name, step)
        for path in WORKFLOWS
        for step in steps(load(path))
        if str(step.get("uses", "")).startswith("pulumi/actions") and "command" in step.get("with", {})
    ]
    assert {step["with"]["command"] for _, step in pulumi_steps} == {"preview", "up"}
    for name, step in pulumi_steps:
        assert step["with"]["policyPacks"] == "policy", name
    assert (REPO / "policy" / "PulumiPolicy.yaml").is_file()
    prod = load(REPO / ".github" / "workflows" / "deploy.yml")["jobs"]["prod"]
    assert prod["environment"] == "prod" and prod["needs"] == "dev"


def test_the_cli_version_matches_the_one_the_scripts_pin() -> None:
    pinned = re.search(r"^PULUMI_VERSION=(\S+)$", (REPO / "scripts" / "versions.sh").read_text(), re.M)
    assert pinned is not None
    setup = load(REPO / ".github" / "actions" / "setup" / "action.yml")
    versions = {s["with"]["pulumi-version"] for s in steps(setup) if str(s.get("uses", "")).startswith("pulumi/")}
    assert versions == {pinned.group(1)}


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (REPO / "Makefile").read_text(), re.M))


def _commands() -> list[tuple[str, str]]:
    return [(path.name, step["run"]) for path in WORKFLOWS + ACTIONS for step in steps(load(path)) if "run" in step]


def test_every_command_the_workflows_run_exists_in_the_repository() -> None:
    targets = _make_targets()
    checked = 0
    for name, script in _commands():
        for target in re.findall(r"\bmake ([a-z][\w-]*)", script):
            assert target in targets, f"{name}: make {target} is not a Makefile target"
            checked += 1
        for module in re.findall(r"python -m ([\w.]+)", script):
            path = REPO / module.replace(".", "/")
            assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), f"{name}: {module}"
            checked += 1
        for file in re.findall(r"(?:^|\s)((?:\.ci|scripts)/[\w./-]+)", script):
            assert (REPO / file).is_file(), f"{name}: {file} does not exist"
            checked += 1
    assert checked >= 5


def test_every_secret_and_variable_is_documented_in_the_readme() -> None:
    used = set()
    for path in WORKFLOWS + ACTIONS:
        used |= set(re.findall(r"\$\{\{\s*((?:secrets|vars)\.\w+)", path.read_text()))
    used.discard("secrets.GITHUB_TOKEN")
    section = (REPO / "README.md").read_text().split("## CI/CD", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `((?:secrets|vars)\.\w+)`", section, re.M))
    assert used == documented


def test_the_readme_quickstart_is_two_commands_and_every_command_the_readme_names_exists() -> None:
    """The quickstart's two commands, and every `make` target, `python -m` module and script the
    README names anywhere; `python -m` always through the project's virtualenv."""
    text = (REPO / "README.md").read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", quickstart, re.S)
    assert [line.split("#", 1)[0].strip() for line in block.splitlines()] == ["make up", "make test"]
    targets = _make_targets()
    for target in set(re.findall(r"\bmake ([a-z][\w-]*)", text)):
        assert target in targets, f"README: make {target} is not a Makefile target"
    modules = set(re.findall(r"python -m ([a-z_][\w.]*)", text))
    assert len(modules) >= 5
    for module in modules:
        path = REPO / module.replace(".", "/")
        assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), f"README: {module}"
    assert not re.findall(r"(?<![\w/.])python -m ", text), "README: run modules with .venv/bin/python -m"
    for file in set(re.findall(r"`((?:\.ci|scripts)/[\w./-]+)`", text)):
        assert (REPO / file).is_file(), f"README: {file} does not exist"
