"""actionlint (with shellcheck on every `run:` script) and zizmor (offline audits) over .github/workflows."""

from .conftest import INFRA_BIN, WORKFLOWS_DIR, run, tool


def actionlint(*arguments: str, stdin: str | None = None):
    shellcheck = tool(INFRA_BIN, "shellcheck")
    # pyflakes="" : no workflow step runs inline Python, and an absent pyflakes would be skipped silently anyway.
    command = [
        tool(INFRA_BIN, "actionlint"),
        "-oneline",
        "-no-color",
        "-shellcheck",
        shellcheck,
        "-pyflakes=",
        *arguments,
    ]
    return run(command, stdin=stdin)


def workflow_files():
    files = sorted([*WORKFLOWS_DIR.glob("*.yml"), *WORKFLOWS_DIR.glob("*.yaml")])
    assert files, f"no workflows in {WORKFLOWS_DIR}"
    return files


def test_actionlint_is_clean():
    result = actionlint(*map(str, workflow_files()))
    assert result.returncode == 0, f"actionlint (exit {result.returncode}):\n{result.stdout}{result.stderr}"


def test_actionlint_runs_shellcheck():
    """Without shellcheck actionlint skips script checks silently: prove they run."""
    workflow = "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $UNQUOTED\n"
    result = actionlint("-", stdin=workflow)
    assert result.returncode == 1 and "SC2086" in result.stdout, result.stdout + result.stderr


def test_zizmor_is_clean():
    command = [tool(INFRA_BIN, "zizmor"), "--offline", "--format", "plain", "--no-progress", "--color", "never"]
    result = run([*command, WORKFLOWS_DIR])
    # Exit 0: no findings; 1: zizmor failed; 10-14: findings, by their highest severity.
    assert result.returncode == 0, f"zizmor (exit {result.returncode}):\n{result.stdout}{result.stderr}"
