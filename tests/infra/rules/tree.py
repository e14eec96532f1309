"""The parsed terraform/ tree the rules read, and the helpers they share to walk it.

The parsed tree comes from hcl_dump.py: python-hcl2 documents keyed by path relative to terraform/, blocks as
lists of dicts, strings unquoted, expressions as "${...}" text, literal `jsonencode({...})` as {"__jsonencode__": ...}.
Block and Tree hand the rules blocks by kind, type and directory; the helpers follow references, locals and nested or
dynamic blocks, and report a module missing altogether, so that a rule says so rather than passing on nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MODULES = (
    "private_bucket", "artifacts", "model_endpoint", "api", "site", "monitoring", "auth", "reviews_table", "stack",
)  # fmt: skip
ENVIRONMENTS = ("dev", "prod")

REFERENCE = re.compile(r"^\$\{([^{}]*)\}$")  # a value that is exactly one reference: "${var.x}"


@dataclass(frozen=True)
class Block:
    file: str  # path relative to terraform/
    kind: str  # resource, data, variable, output, module, ...
    type: str  # resource or data source type ("" for the others)
    name: str
    body: dict

    @property
    def directory(self) -> str:
        return self.file.rpartition("/")[0]

    @property
    def address(self) -> str:
        return ".".join(part for part in (self.kind if self.kind != "resource" else "", self.type, self.name) if part)

    def where(self) -> str:
        return f"{self.file}: {self.address}"


@dataclass(frozen=True)
class Tree:
    """terraform/ on disk (for README and file checks) and its parsed .tf files."""

    root: Path
    documents: dict[str, dict] = field(repr=False)

    def blocks(self, kind: str, type_: str | None = None, directory: str | None = None) -> Iterator[Block]:
        for file, document in sorted(self.documents.items()):
            if directory is not None and file.rpartition("/")[0] != directory:
                continue
            for entry in document.get(kind, []):
                if kind in ("resource", "data"):
                    for block_type, named in entry.items():
                        if type_ is None or block_type == type_:
                            for name, body in named.items():
                                yield Block(file, kind, block_type, name, body)
                else:
                    for name, body in entry.items():
                        yield Block(file, kind, "", name, body)

    def resources(self, type_: str, directory: str) -> list[Block]:
        return list(self.blocks("resource", type_, directory))

    def terraform_settings(self, directory: str) -> list[dict]:
        return [
            settings
            for file, document in self.documents.items()
            if file.rpartition("/")[0] == directory
            for settings in document.get("terraform", [])
        ]


def module_dir(name: str) -> str:
    return f"modules/{name}"


def reference(value) -> str | None:
    """The target of a value that is exactly one reference ("${var.x}" gives "var.x"), else None."""
    match = REFERENCE.match(value) if isinstance(value, str) else None
    return match.group(1).strip() if match else None


def first(body: dict, block: str) -> dict:
    """The first nested block of that name, written out or as `dynamic "<block>"`'s content ({} when absent)."""
    if nested := body.get(block):
        return nested[0] if isinstance(nested, list) else nested
    for entry in as_list(body.get("dynamic")):
        if block in entry:
            return first(entry[block], "content")
    return {}


def resolve_local(tree: Tree, directory: str, value):
    """For "${local.x}" or "${local.x.key}", that local's value in that directory (or its literal map's entry; one
    level deep); any other value as it is."""
    target = reference(value)
    if not target or not target.startswith("local."):
        return value
    name, *keys = target.removeprefix("local.").split(".")
    for local in tree.blocks("locals", directory=directory):
        if local.name == name:
            resolved = local.body
            for key in keys:
                if not isinstance(resolved, dict) or key not in resolved:
                    return value
                resolved = resolved[key]
            return resolved
    return value


def each_value(tree: Tree, block: Block, value) -> dict[str, object]:
    """`value`, an attribute of `block`, for each instance by key: with for_each over a literal map (written out or in
    a local), "${each.value.<name>}" is that instance's <name> and any other value the same for all; {"": value} for a
    block without one."""
    instances = resolve_local(tree, block.directory, block.body.get("for_each"))
    if not isinstance(instances, dict):
        return {"": value}
    target = reference(value) or ""
    if not target.startswith("each.value."):
        return dict.fromkeys(instances, value)
    name = target.removeprefix("each.value.")
    return {key: instance.get(name) if isinstance(instance, dict) else None for key, instance in instances.items()}


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def strings_in(value) -> set[str]:
    """Every string in a parsed value, and every quoted string inside its expressions (`toset(["a", "b"])`)."""
    if isinstance(value, dict):
        return set().union(*(strings_in(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(strings_in(item) for item in value))
    if isinstance(value, str):
        return {value, *re.findall(r'"((?:[^"\\]|\\.)*)"', value)}
    return set()


def missing_module(tree: Tree, name: str) -> list[str]:
    directory = module_dir(name)
    if any(file.startswith(directory + "/") for file in tree.documents):
        return []
    return [f"{directory}: no .tf files"]


def stack_module_calls(tree: Tree) -> dict[str, Block]:
    """The stack's module blocks keyed by the module they call ("../api" -> "api")."""
    return {
        str(call.body.get("source", "")).rsplit("/", 1)[-1]: call
        for call in tree.blocks("module", directory=module_dir("stack"))
    }
