"""Offline infrastructure checks: Terraform formatting and structure, checkov, workflow linters.

The tools live in their own virtualenvs, made by `make infra-tools` (which `make test` runs first): .venv-infra
(Terraform 1.0.3 for `fmt`, python-hcl2, actionlint, shellcheck, zizmor) and .venv-checkov (checkov pins an old
boto3, and its bc-python-hcl2 clashes with python-hcl2). The tests call them as subprocesses. A missing tool fails
the test, it never skips it: a check that silently stops running is worse than none.
The parsed tree and the checkov report of terraform/ are made once per session and shared.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .rules import Tree

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = PROJECT_ROOT / "terraform"
WORKFLOWS_DIR = PROJECT_ROOT / ".github" / "workflows"
INFRA_BIN = PROJECT_ROOT / ".venv-infra" / "bin"
CHECKOV_BIN = PROJECT_ROOT / ".venv-checkov" / "bin"
HCL_DUMP = Path(__file__).with_name("hcl_dump.py")
# No network: Terraform must not ask for version bulletins (checkov gets --skip-download for the same reason).
TOOL_ENV = {**os.environ, "CHECKPOINT_DISABLE": "1", "NO_COLOR": "1"}


def tool(bin_dir: Path, name: str) -> Path:
    path = bin_dir / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{path.relative_to(PROJECT_ROOT)} is missing: run make infra-tools", pytrace=False)
    return path


def run(command: list, *, timeout: int = 300, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(part) for part in command],
        cwd=PROJECT_ROOT,
        env=TOOL_ENV,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def terraform_fmt_check(directory: Path) -> subprocess.CompletedProcess:
    return run([tool(INFRA_BIN, "terraform"), "fmt", "-check", "-recursive", "-diff", "-no-color", directory])


def parse_terraform(directory: Path) -> Tree:
    """Parse every .tf file under `directory` with python-hcl2 (in .venv-infra) into a Tree for the rules."""
    result = run([tool(INFRA_BIN, "python"), HCL_DUMP, directory])
    if result.returncode != 0:
        pytest.fail(f"python-hcl2 could not parse {directory}:\n{result.stderr}", pytrace=False)
    return Tree(root=directory, documents=json.loads(result.stdout))


def run_checkov(directory: Path) -> dict:
    """checkov's JSON report for a Terraform directory: results.{passed,failed,skipped}_checks, summary."""
    result = run(
        [
            tool(CHECKOV_BIN, "checkov"),
            *("--directory", directory, "--framework", "terraform", "--output", "json"),
            *("--download-external-modules", "false", "--skip-download"),
        ],
        timeout=600,
    )
    # Exit 1 means failed checks; anything else that is not 0 is checkov itself failing.
    if result.returncode not in (0, 1) or not result.stdout.lstrip().startswith(("{", "[")):
        pytest.fail(f"checkov did not run (exit {result.returncode}):\n{result.stderr[-4000:]}", pytrace=False)
    report = json.loads(result.stdout)
    if isinstance(report, list):  # one report per framework; only terraform was asked for
        (report,) = [part for part in report if part.get("check_type") == "terraform"]
    if "results" not in report:  # nothing to scan: checkov prints the bare summary
        report = {"check_type": "terraform", "results": {}, "summary": report}
    return report


def copy_terraform(destination: Path) -> Path:
    """A copy of terraform/ (without local .terraform caches) to break on purpose."""
    copy = destination / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    return copy


def break_terraform(copy: Path, directory: str | Path, pattern: str, replacement: str) -> Path:
    """Apply one regex substitution (re.MULTILINE) to the first .tf file of copy/directory that matches; return it."""
    for path in sorted((copy / directory).glob("*.tf")):
        text = path.read_text(encoding="utf-8")
        broken, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
        if count:
            path.write_text(broken, encoding="utf-8")
            return path
    pytest.fail(f"nothing in {directory}/*.tf matches {pattern!r}: the Terraform changed shape, update this test")


def new_violations(rule, broken_tree: Tree, terraform_tree: Tree) -> set[str]:
    """What a rule reports on a broken copy and not on the real tree."""
    return set(rule(broken_tree)) - set(rule(terraform_tree))


@pytest.fixture(scope="session")
def terraform_tree() -> Tree:
    return parse_terraform(TERRAFORM_DIR)


@pytest.fixture(scope="session")
def checkov_report() -> dict:
    return run_checkov(TERRAFORM_DIR)
