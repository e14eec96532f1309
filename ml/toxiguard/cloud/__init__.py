"""AWS commands (`publish`, `train-cloud`, `score --cloud`). This file stays free of boto3, so the CLI can check
its options in an install without the `cloud` extra."""

import re

IAM_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+")
