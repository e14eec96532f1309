"""The endpoint's TensorFlow Serving image loads the shipped artifact and scores it as the project does.

The artifact is exported with the project's TensorFlow (2.21); AWS's newest tensorflow-inference image is older.
.venv-serving-tf holds the image's TensorFlow release (tests/infra/requirements-serving-tf.txt), which loads the
SavedModel with the same op kernels TensorFlow Serving of that release uses.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from toxiguard.artifact import latest_artifact

from .conftest import PROJECT_ROOT, run, tool

SERVING_TF_BIN = PROJECT_ROOT / ".venv-serving-tf" / "bin"
LOADER = PROJECT_ROOT / "tests" / "infra" / "serving_tf_load.py"


def image_tags(tree) -> list[str]:
    """Every image_tag Terraform may deploy: the module's default and any value a caller passes."""
    tags = [
        block.body["default"]
        for block in tree.blocks("variable", directory="modules/model_endpoint")
        if block.name == "image_tag"
    ]
    tags += [block.body["image_tag"] for block in tree.blocks("module") if "image_tag" in block.body]
    return tags


def release(version: str) -> str:
    return re.match(r"^(\d+\.\d+)", version).group(1)


@pytest.fixture(scope="module")
def loaded_in_serving_tf() -> dict:
    result = run([tool(SERVING_TF_BIN, "python"), LOADER, latest_artifact(PROJECT_ROOT / "artifacts")], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_checked_tensorflow_is_the_serving_images(terraform_tree, loaded_in_serving_tf):
    tags = image_tags(terraform_tree)
    assert tags, "no image_tag in terraform/modules/model_endpoint"
    assert {release(tag) for tag in tags} == {release(loaded_in_serving_tf["tensorflow"])}, tags


def test_the_shipped_artifact_scores_the_same_in_the_serving_images_tensorflow(loaded_in_serving_tf):
    manifest = json.loads((latest_artifact(PROJECT_ROOT / "artifacts") / "manifest.json").read_text())
    expected = np.array(manifest["serving"]["example_response"]["predictions"])
    # The manifest's example response is rounded to TF Serving's 9 significant digits.
    np.testing.assert_allclose(np.array(loaded_in_serving_tf["predictions"]), expected, atol=1e-5)
