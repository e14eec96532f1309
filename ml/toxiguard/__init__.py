"""toxiguard: multi-label toxic-comment detection (Bi-LSTM) for self-hosted moderation.

For teams that embed the model in their own service:

    import toxiguard

    model = toxiguard.load()  # the newest shipped artifact; or toxiguard.load("artifacts/<version>")
    model.predict("I am a proud gay man")  # {"scores": {...}, "labels": [], "flagged": False, "action": "allow"}
    model.predict(["first comment", "second comment"])  # a list of those, as the API answers

The package's parts follow the deployables: `toxiguard.training` (TensorFlow, scikit-learn), `toxiguard.serving`
(TensorFlow for the model, the standard library for the local gateway), `toxiguard.cloud` (boto3 only), and
`toxiguard.artifact`, the contract between them. `import toxiguard` itself loads none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toxiguard.serving.model import ServingModel

__version__ = "0.1.0"
__all__ = ["load"]


def load(artifact_dir: Path | str | None = None) -> ServingModel:
    """A packaged model ready to score: `artifact_dir`, or the newest artifact under the project's artifacts/."""
    from toxiguard.artifact import latest_artifact
    from toxiguard.config import configure_threads

    configure_threads()  # before TensorFlow starts its thread pools
    from toxiguard.serving.model import ServingModel

    return ServingModel(Path(artifact_dir) if artifact_dir is not None else latest_artifact())
