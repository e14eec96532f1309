"""SageMaker Runtime's InvokeEndpoint as boto3 calls it: SigV4 presence and form, and AWS's error shapes.

The shapes are botocore's sagemaker-runtime service model: unknown endpoint, ModelError wrapping the container's
status and message, and the authentication errors AWS's front door answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http import HTTPStatus

from toxiguard.serving.local.http import Response

LOCAL_ACCOUNT_ID = "000000000000"
RUNTIME_PATH = re.compile(r"/endpoints/([^/]+)/invocations")
_CORAL = "http://internal.amazon.com/coral/com.amazon.coral.service/"
_SAGEMAKER_RUNTIME = "http://internal.amazon.com/coral/com.amazon.sageruntime/"
_SIGV4_PARAMETERS = ("Credential", "Signature", "SignedHeaders")
_MAX_ERROR_MESSAGE = 2048  # the Message shape's max length in the sagemaker-runtime model


class AwsError(Exception):
    """An AWS error response: status, x-amzn-ErrorType code (with its namespace) and JSON body."""

    def __init__(self, status: int, code: str, body: dict, namespace: str = _SAGEMAKER_RUNTIME):
        super().__init__(code)
        self.status, self.code, self.body, self.namespace = status, code, body, namespace


def signing_region(headers: Mapping[str, str]) -> str:
    """The region of a request's SigV4 Authorization header, or the error AWS answers an unsigned/malformed request.

    Only the header's presence and form are checked: the local server knows no secret keys. Header names are
    lower-cased.
    """
    authorization = headers.get("authorization")
    if not authorization:
        raise AwsError(403, "MissingAuthenticationTokenException", {"message": "Missing Authentication Token"}, _CORAL)
    scheme, _, rest = authorization.partition(" ")
    parameters = {}
    if scheme == "AWS4-HMAC-SHA256":
        for part in rest.split(","):
            name, _, value = part.strip().partition("=")
            if value:
                parameters[name] = value
    problems = [
        f"Authorization header requires '{name}' parameter." for name in _SIGV4_PARAMETERS if name not in parameters
    ]
    if not (headers.get("x-amz-date") or headers.get("date")):
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if problems:
        message = " ".join([*problems, f"Authorization={authorization}"])
        raise AwsError(400, "IncompleteSignatureException", {"message": message}, _CORAL)
    scope = parameters["Credential"].split("/")
    if len(scope) != 5:
        message = (
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{parameters['Credential']}'"
        )
        raise AwsError(400, "IncompleteSignatureException", {"message": message}, _CORAL)
    if scope[3] != "sagemaker":
        message = "Credential should be scoped to correct service: 'sagemaker'. "
        raise AwsError(403, "InvalidSignatureException", {"message": message}, _CORAL)
    return scope[2]


def model_error(status: int, container_message: str, region: str, endpoint: str, variant: str) -> AwsError:
    """ModelError (424): the container answered `status`; AWS quotes its body in Message and OriginalMessage."""
    kind = "client" if status < 500 else "server"
    logs = (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group=/aws/sagemaker/Endpoints/{endpoint}"
    )
    message = (
        f'Received {kind} error ({status}) from primary with message "{container_message}". '
        f"See {logs} in account {LOCAL_ACCOUNT_ID} for more information."
    )
    body = {
        "Message": message[:_MAX_ERROR_MESSAGE],
        "OriginalStatusCode": status,
        "OriginalMessage": container_message[:_MAX_ERROR_MESSAGE],
        "LogStreamArn": (
            f"arn:aws:logs:{region}:{LOCAL_ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/{endpoint}"
            f":log-stream:{variant}/local"
        ),
    }
    return AwsError(HTTPStatus.FAILED_DEPENDENCY, "ModelError", body)


def aws_error_response(error: AwsError) -> Response:
    headers = {"x-amzn-ErrorType": f"{error.code}:{error.namespace}"}
    return Response(error.status, json.dumps(error.body).encode(), headers=headers)
