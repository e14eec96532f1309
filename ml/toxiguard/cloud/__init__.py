"""AWS commands (`publish`, `train-cloud`, `score --cloud`). This file stays free of boto3, so the CLI can check
its options in an install without the `cloud` extra."""

import re

# S3's bucket naming rules (3-63 lower-case letters, digits, dots and hyphens; a letter or digit at each end).
BUCKET_NAME = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
IAM_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+")
