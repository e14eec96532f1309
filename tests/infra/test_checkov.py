"""checkov over terraform/: no failed check; every skip is written next to its resource with a reason."""

from .conftest import PROJECT_ROOT, TERRAFORM_DIR

NO_REASON = "No comment provided"  # what checkov records for `#checkov:skip=CKV_...` without `:<reason>`


def describe(check: dict) -> str:
    first_line = (check.get("file_line_range") or [0])[0]
    return f"{check['check_id']} {check['resource']} ({check['file_path']}:{first_line}): {check['check_name']}"


def test_checkov_found_resources(checkov_report):
    summary = checkov_report["summary"]
    assert summary["resource_count"] > 0 and summary["passed"] > 0, f"checkov found nothing to check: {summary}"


def test_checkov_parsed_every_file(checkov_report):
    """checkov's own HCL parser (bc-python-hcl2) is stricter than Terraform; a file it rejects goes unchecked.

    Known case: a line that starts with an operator inside parentheses (`&& !startswith(...)`): end the previous
    line with the operator instead.
    """
    unparsed = checkov_report["results"].get("parsing_errors", [])
    assert not unparsed, "checkov could not parse, so checked nothing in:\n" + "\n".join(unparsed)


def test_checkov_has_no_failed_checks(checkov_report):
    failed = checkov_report["results"].get("failed_checks", [])
    assert not failed, f"{len(failed)} failed checkov checks:\n" + "\n".join(sorted({describe(c) for c in failed}))


def test_every_checkov_skip_has_a_reason(checkov_report):
    skipped = checkov_report["results"].get("skipped_checks", [])
    unexplained = [
        c for c in skipped if c["check_result"].get("suppress_comment", NO_REASON).strip() in ("", NO_REASON)
    ]
    assert not unexplained, "skips without a reason (#checkov:skip=ID:<reason>):\n" + "\n".join(
        sorted({describe(c) for c in unexplained})
    )


def test_no_checkov_config_skips_checks_globally():
    """Skips belong next to the resource with their reason, not in a config file that hides them from the report."""
    configs = [folder / name for folder in (PROJECT_ROOT, TERRAFORM_DIR) for name in (".checkov.yaml", ".checkov.yml")]
    assert not [path for path in configs if path.exists()]
