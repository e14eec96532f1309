"""The env roots (envs/dev, envs/prod): each calls the stack module, keeps its state in S3 (partial backend
configuration) and outputs what the deploy workflow reads.
"""

from __future__ import annotations

from .tree import ENVIRONMENTS, Tree, as_list

ENV_ROOT_OUTPUTS = ("api_url", "site_url", "endpoint_name", "artifact_bucket_name")


def check_env_roots(tree: Tree) -> list[str]:
    """Each env root calls the stack module, keeps state in S3 (partial config) and outputs what deploy reads."""
    violations = []
    for environment in ENVIRONMENTS:
        directory = f"envs/{environment}"
        if not any(file.startswith(directory + "/") for file in tree.documents):
            violations.append(f"{directory}: no .tf files")
            continue
        calls = tree.blocks("module", directory=directory)
        if not any(str(call.body.get("source", "")).endswith("modules/stack") for call in calls):
            violations.append(f"{directory}: does not call modules/stack")
        backends = [
            backend for settings in tree.terraform_settings(directory) for backend in as_list(settings.get("backend"))
        ]
        if not any("s3" in backend for backend in backends):
            violations.append(f'{directory}: no backend "s3"')
        outputs = {output.name for output in tree.blocks("output", directory=directory)}
        violations += [f"{directory}: no output {name!r}" for name in ENV_ROOT_OUTPUTS if name not in outputs]
    return violations
