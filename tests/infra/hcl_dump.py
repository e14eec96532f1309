"""Print every .tf file under a directory as JSON: {"<path relative to it>": <python-hcl2 document>}.

Runs in .venv-infra (python-hcl2 cannot share the test virtualenv's neighbours: checkov's bc-python-hcl2 clashes
with it), so the tests call it as a subprocess: `.venv-infra/bin/python tests/infra/hcl_dump.py terraform`.
Blocks come out as lists of dicts, strings without their quotes and expressions as "${...}" text, except that a
literal `jsonencode({...})` / `jsonencode([...])` (an inline IAM policy, a log format) is parsed as well and comes out
as {"__jsonencode__": <the object>}, so that the rules can read the statements of inline policies.
A file that does not parse is an error: the whole dump fails with the file's name.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import hcl2
from hcl2 import SerializationOptions

OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
JSONENCODE_LITERAL = re.compile(r"^\$\{jsonencode\(([\[{].*)\)\}$", re.DOTALL)


def expand_jsonencode(value):
    """Replace each `${jsonencode(<object or tuple literal>)}` string inside `value` by the parsed literal."""
    if isinstance(value, dict):
        return {key: expand_jsonencode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_jsonencode(item) for item in value]
    if isinstance(value, str) and (match := JSONENCODE_LITERAL.match(value)):
        try:
            literal = hcl2.loads(f"value = {match.group(1)}", serialization_options=OPTIONS)["value"]
        except Exception:  # not one literal after all (e.g. two interpolations): leave the text as it is
            return value
        return {"__jsonencode__": expand_jsonencode(literal)}
    return value


def dump(root: Path) -> dict[str, dict]:
    documents = {}
    for path in sorted(root.rglob("*.tf")):
        if ".terraform" in path.parts:  # provider and module caches of a local `terraform init`
            continue
        try:
            with path.open(encoding="utf-8") as file:
                document = hcl2.load(file, serialization_options=OPTIONS)
        except Exception as error:
            raise SystemExit(f"{path}: cannot parse: {error}") from error
        documents[path.relative_to(root).as_posix()] = expand_jsonencode(document)
    return documents


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: hcl_dump.py TERRAFORM_DIR")
    json.dump(dump(Path(sys.argv[1])), sys.stdout, indent=1, sort_keys=True)
