"""The Lambda functions' modules (`lambda/*.py`, standalone: standard library + boto3) run in this process, loaded by
file as Lambda loads them: the local gateway runs the API's functions this way, `toxiguard export-decisions` reads
the review store. Standard library only, so neither needs the other's dependencies."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

from toxiguard.config import PROJECT_ROOT

LAMBDA_DIR = PROJECT_ROOT / "lambda"
HANDLER_FILE = LAMBDA_DIR / "handler.py"
REVIEWS_FILE = LAMBDA_DIR / "reviews.py"
REVIEW_STORE_FILE = LAMBDA_DIR / "review_store.py"


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore the previous ones."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_handler(environment: Mapping[str, str], handler_file: Path = HANDLER_FILE) -> ModuleType:
    """Import a Lambda function's module as a fresh module that reads `environment` at import, as a cold start does.

    Its directory goes on the import path, as Lambda's task root is: the functions import their shared modules
    (`http_api`, `review_store`) by plain name.
    """
    if str(handler_file.parent) not in sys.path:
        sys.path.append(str(handler_file.parent))
    name = f"toxiguard_lambda_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, handler_file)
    module = importlib.util.module_from_spec(spec)
    with patched_environ(environment):
        spec.loader.exec_module(module)
    return module
