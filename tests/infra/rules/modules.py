"""Layout and documentation of the modules and env roots.

Every module and env root has the files of the terraform-aws-modules layout, declares its variables and outputs where
a reader looks for them (variables typed and described, outputs described and named <thing>_<attribute>), lists them
in its README, and pins the Terraform version and the hashicorp/aws provider: a module can be used from its README
alone, and plans the same wherever it runs.
"""

from __future__ import annotations

import re

from .tree import ENVIRONMENTS, MODULES, Tree, as_list, module_dir

MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")
ENV_ROOT_FILES = (*MODULE_FILES, "backend.tf")


def check_layout(tree: Tree) -> list[str]:
    """The modules and two env roots exist, each with the files of the terraform-aws-modules layout."""
    violations = []
    for parent, expected, files in (("modules", MODULES, MODULE_FILES), ("envs", ENVIRONMENTS, ENV_ROOT_FILES)):
        present = sorted(path.name for path in (tree.root / parent).glob("*") if path.is_dir())
        violations += [f"{parent}/{name}: missing directory" for name in expected if name not in present]
        for name in present:
            violations += [
                f"{parent}/{name}: missing {file}" for file in files if not (tree.root / parent / name / file).is_file()
            ]
    return violations


def check_declarations_in_their_files(tree: Tree) -> list[str]:
    """Variables live in variables.tf and outputs in outputs.tf, where a reader (and the README) looks for them."""
    return [
        f"{block.where()}: declared outside {kind}s.tf"
        for kind in ("variable", "output")
        for block in tree.blocks(kind)
        if not block.file.endswith(f"/{kind}s.tf")
    ]


def check_variables_typed_and_described(tree: Tree) -> list[str]:
    violations = []
    for variable in tree.blocks("variable"):
        if not variable.body.get("type"):
            violations.append(f"{variable.where()}: no type")
        description = variable.body.get("description")
        if not isinstance(description, str) or not description.strip():
            violations.append(f"{variable.where()}: no description")
    return violations


def check_output_names(tree: Tree) -> list[str]:
    """Outputs are named <thing>_<attribute> (bucket_arn, endpoint_name), never a bare `arn` or `name`."""
    return [
        f"{output.where()}: name is not <thing>_<attribute>"
        for output in tree.blocks("output")
        if not re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", output.name)
    ]


def check_outputs_described(tree: Tree) -> list[str]:
    return [
        f"{output.where()}: no description"
        for output in tree.blocks("output")
        if not str(output.body.get("description", "")).strip()
    ]


def readme_mentions(readme: str, name: str) -> bool:
    """As terraform-docs writes a table row (`[name](#input\\_name)`) or as hand-written `name` / | name |."""
    text = readme.replace("\\_", "_")
    return any(pattern in text for pattern in (f"`{name}`", f"[{name}]", f"| {name} |"))


def readme_section(readme: str, title: str) -> str | None:
    """The text under a `## <title>` heading (any level) up to the next heading of that level or higher."""
    heading = re.search(rf"^(#+)\s*{title}\b.*$", readme, re.MULTILINE)
    if not heading:
        return None
    end = re.compile(rf"^#{{1,{len(heading.group(1))}}}\s", re.MULTILINE).search(readme, heading.end())
    return readme[heading.end() : end.start() if end else len(readme)]


def check_readmes_document_interface(tree: Tree) -> list[str]:
    """Every module README lists each variable under Inputs and each output under Outputs."""
    violations = []
    for name in MODULES:
        directory = module_dir(name)
        readme_path = tree.root / directory / "README.md"
        if not readme_path.is_file():
            continue  # check_layout reports it
        readme = readme_path.read_text(encoding="utf-8")
        for kind, title in (("variable", "Inputs"), ("output", "Outputs")):
            section = readme_section(readme, title)
            if section is None:
                violations.append(f"{directory}/README.md: no '{title}' section")
                continue
            violations += [
                f"{directory}/README.md: {title} does not list {kind} `{block.name}`"
                for block in tree.blocks(kind, directory=directory)
                if not readme_mentions(section, block.name)
            ]
    return violations


def check_versions_pinned(tree: Tree) -> list[str]:
    """Every module and env root states the Terraform version and takes the AWS provider from hashicorp/aws."""
    violations = []
    directories = [module_dir(name) for name in MODULES] + [f"envs/{name}" for name in ENVIRONMENTS]
    for directory in directories:
        if not (tree.root / directory / "versions.tf").is_file():
            continue  # check_layout reports it
        settings = tree.terraform_settings(directory)
        if not any(block.get("required_version") for block in settings):
            violations.append(f"{directory}: no terraform.required_version")
        providers = [
            requirements
            for block in settings
            for required in as_list(block.get("required_providers"))
            for requirements in required.values()
            if isinstance(requirements, dict)
        ]
        aws = [p for p in providers if p.get("source") == "hashicorp/aws" and p.get("version")]
        if not aws:
            violations.append(f"{directory}: required_providers has no hashicorp/aws with a version constraint")
    return violations
