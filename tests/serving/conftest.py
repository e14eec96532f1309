"""Fixtures for serving tests: one local model server (SageMaker container + Runtime API) per test session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def model_server(shipped_artifact) -> str:
    """URL of a model server for the shipped model on a free port: micro-batching, endpoint name `toxiguard`."""
    from toxiguard.serving.local.model_server import ModelServer

    with ModelServer(shipped_artifact.directory, port=0) as server:
        yield server.url


@pytest.fixture(scope="session")
def sagemaker_runtime(model_server):
    """A boto3 SageMaker Runtime client for `model_server`, signing (SigV4) with dummy credentials."""
    import boto3

    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=model_server,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
