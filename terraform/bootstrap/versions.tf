terraform {
  # S3 native state locking (use_lockfile) in the environment roots needs Terraform >= 1.10.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }

  # Deliberately no backend: this root creates the state bucket itself, so it is applied once by an admin with
  # local state (terraform.tfstate next to this file). See README.md for keeping or migrating that file.
}
