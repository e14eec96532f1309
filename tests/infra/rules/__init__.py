"""Structural rules for terraform/: each takes the parsed tree and returns its violations (empty list: it holds).

`terraform validate` cannot run offline (no provider package), so these rules prove what it would not anyway:
the layout and documentation of the modules, least-privilege IAM, and the wiring between the Lambda, the API and
the SageMaker endpoint. The same functions run on the real tree and on deliberately broken copies of it
(test_broken_module.py), so a rule that stops seeing anything would show there.

One module a concern: tree.py (the parsed tree and the helpers the rules share), modules.py (layout and
documentation), iam.py (least privilege, permissions boundary, environment scope, service principals), bootstrap.py
(the bootstrap's documents rendered as IAM sees them: sizes, what each role may do), api.py (routes, Lambda wiring,
JWT authorization, Cognito), endpoint.py (the model endpoint), envs.py (the env roots), metrics.py (the functions'
metrics on the dashboard and the alarms), reviews.py (the review queue's table, routes, functions and alarms) and
batch.py (batch scoring: the batch bucket, the transform role, the operator policy, the outputs the CLI reads).
RULES lists every rule that needs the tree alone, in the order they run.
"""

from __future__ import annotations

from collections.abc import Callable

from .api import (
    api_route_table,
    check_api_authorization,
    check_api_routes,
    check_auth_wiring,
    check_cognito_clients,
    check_lambda_endpoint_wiring,
    check_lambda_permission,
    check_prod_requires_auth,
    evaluate_condition,
)
from .batch import (
    check_batch_bucket,
    check_batch_outputs,
    check_boundary_allows_transform_role,
    check_operator_policy,
    check_transform_role,
)
from .bootstrap import (
    LONGEST_INPUTS,
    TYPICAL_INPUTS,
    bootstrap_role_documents,
    check_bootstrap_policy_sizes,
    check_roles_cover_stack_resources,
    document_size,
    render_bootstrap_documents,
    role_actions,
    role_may,
)
from .endpoint import check_endpoint_rollout, check_rollback_alarms_wired, check_serving_image
from .envs import check_env_roots
from .iam import (
    Condition,
    check_cognito_environment_scoped,
    check_deploy_roles_bounded,
    check_generated_id_services_environment_scoped,
    check_iam_least_privilege,
    check_lambda_policy,
    check_roles_carry_permissions_boundary,
    check_service_principals_scoped,
    document_conditions,
)
from .metrics import HandlerMetrics, check_handler_metrics
from .modules import (
    check_declarations_in_their_files,
    check_layout,
    check_output_names,
    check_outputs_described,
    check_readmes_document_interface,
    check_variables_typed_and_described,
    check_versions_pinned,
)
from .reviews import check_review_alarms, check_review_functions, check_review_routes, check_reviews_table
from .tree import Tree

RULES: list[Callable[[Tree], list[str]]] = [
    check_layout,
    check_declarations_in_their_files,
    check_variables_typed_and_described,
    check_output_names,
    check_outputs_described,
    check_readmes_document_interface,
    check_versions_pinned,
    check_iam_least_privilege,
    check_lambda_policy,
    check_roles_carry_permissions_boundary,
    check_deploy_roles_bounded,
    check_generated_id_services_environment_scoped,
    check_cognito_environment_scoped,
    check_roles_cover_stack_resources,
    check_bootstrap_policy_sizes,
    check_service_principals_scoped,
    check_lambda_endpoint_wiring,
    check_rollback_alarms_wired,
    check_api_routes,
    check_lambda_permission,
    check_api_authorization,
    check_cognito_clients,
    check_auth_wiring,
    check_prod_requires_auth,
    check_endpoint_rollout,
    check_serving_image,
    check_env_roots,
    check_reviews_table,
    check_review_routes,
    check_review_functions,
    check_review_alarms,
    check_batch_bucket,
    check_transform_role,
    check_operator_policy,
    check_boundary_allows_transform_role,
    check_batch_outputs,
]

__all__ = [
    "LONGEST_INPUTS",
    "RULES",
    "TYPICAL_INPUTS",
    "Condition",
    "HandlerMetrics",
    "Tree",
    "api_route_table",
    "bootstrap_role_documents",
    "check_api_authorization",
    "check_api_routes",
    "check_auth_wiring",
    "check_batch_bucket",
    "check_batch_outputs",
    "check_bootstrap_policy_sizes",
    "check_boundary_allows_transform_role",
    "check_cognito_clients",
    "check_cognito_environment_scoped",
    "check_declarations_in_their_files",
    "check_deploy_roles_bounded",
    "check_endpoint_rollout",
    "check_env_roots",
    "check_generated_id_services_environment_scoped",
    "check_handler_metrics",
    "check_iam_least_privilege",
    "check_lambda_endpoint_wiring",
    "check_lambda_permission",
    "check_lambda_policy",
    "check_layout",
    "check_operator_policy",
    "check_output_names",
    "check_outputs_described",
    "check_prod_requires_auth",
    "check_readmes_document_interface",
    "check_review_alarms",
    "check_review_functions",
    "check_review_routes",
    "check_reviews_table",
    "check_roles_carry_permissions_boundary",
    "check_roles_cover_stack_resources",
    "check_rollback_alarms_wired",
    "check_service_principals_scoped",
    "check_serving_image",
    "check_transform_role",
    "check_variables_typed_and_described",
    "check_versions_pinned",
    "document_conditions",
    "document_size",
    "evaluate_condition",
    "render_bootstrap_documents",
    "role_actions",
    "role_may",
]
