"""The SageMaker model endpoint: safe rollouts, rollback on the monitoring alarms, and the serving image.

A new endpoint configuration replaces the old one without downtime (name_prefix, create_before_destroy, blue/green
deployment), a deployment rolls back on the monitoring module's endpoint alarms, and the model runs in AWS's prebuilt
TensorFlow Serving image.
"""

from __future__ import annotations

from .tree import Tree, first, missing_module, module_dir, reference, resolve_local, stack_module_calls


def check_rollback_alarms_wired(tree: Tree) -> list[str]:
    """The endpoint rolls back on the monitoring module's endpoint alarms (an empty list would switch rollback off)."""
    if violations := missing_module(tree, "stack"):
        return violations
    calls = stack_module_calls(tree)
    endpoint_call, monitoring_call = calls.get("model_endpoint"), calls.get("monitoring")
    if not endpoint_call or not monitoring_call:
        return [f"{module_dir('stack')}: does not call both ../model_endpoint and ../monitoring"]
    expected = f"${{module.{monitoring_call.name}.endpoint_rollback_alarm_names}}"
    actual = endpoint_call.body.get("rollback_alarm_names")
    if actual != expected:
        return [f"{endpoint_call.where()}: rollback_alarm_names is {actual!r}, not {expected}"]
    return []


def check_endpoint_rollout(tree: Tree) -> list[str]:
    """New configurations replace old ones safely; deployments roll back on alarms."""
    directory = module_dir("model_endpoint")
    if violations := missing_module(tree, "model_endpoint"):
        return violations
    configurations = tree.resources("aws_sagemaker_endpoint_configuration", directory)
    endpoints = tree.resources("aws_sagemaker_endpoint", directory)
    if len(configurations) != 1 or len(endpoints) != 1:
        violations.append(f"{directory}: expected one endpoint configuration and one endpoint")
    for configuration in configurations:
        # Every attribute forces replacement: a fixed name would collide, and create_before_destroy keeps the
        # endpoint serving from the old configuration until the new one exists.
        if not configuration.body.get("name_prefix") or "name" in configuration.body:
            violations.append(f"{configuration.where()}: uses a fixed name instead of name_prefix")
        if first(configuration.body, "lifecycle").get("create_before_destroy") is not True:
            violations.append(f"{configuration.where()}: no lifecycle create_before_destroy = true")
    for endpoint in endpoints:
        deployment = first(endpoint.body, "deployment_config")
        if not deployment.get("blue_green_update_policy"):
            violations.append(f"{endpoint.where()}: no deployment_config.blue_green_update_policy")
        if not first(first(deployment, "auto_rollback_configuration"), "alarms"):
            violations.append(f"{endpoint.where()}: no deployment_config.auto_rollback_configuration alarms")
        config_ref = reference(endpoint.body.get("endpoint_config_name")) or ""
        if not config_ref.startswith("aws_sagemaker_endpoint_configuration."):
            violations.append(f"{endpoint.where()}: endpoint_config_name is not this module's endpoint configuration")
    return violations


def check_serving_image(tree: Tree) -> list[str]:
    """The model runs in AWS's TensorFlow Serving image, looked up by aws_sagemaker_prebuilt_ecr_image."""
    directory = module_dir("model_endpoint")
    if violations := missing_module(tree, "model_endpoint"):
        return violations
    images = list(tree.blocks("data", "aws_sagemaker_prebuilt_ecr_image", directory))
    repositories = [resolve_local(tree, directory, image.body.get("repository_name")) for image in images]
    if "tensorflow-inference" not in repositories:
        violations.append(f"{directory}: no aws_sagemaker_prebuilt_ecr_image with repository_name tensorflow-inference")
    models = tree.resources("aws_sagemaker_model", directory)
    if not models:
        violations.append(f"{directory}: no aws_sagemaker_model")
    for model in models:
        container = first(model.body, "primary_container") or first(model.body, "container")
        if not str(container.get("image", "")).startswith("${data.aws_sagemaker_prebuilt_ecr_image."):
            violations.append(f"{model.where()}: container image is not the prebuilt TensorFlow Serving image")
    return violations
