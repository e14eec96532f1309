"""Run by .venv-serving-tf's Python: load a packaged model.tar.gz as the serving image's TensorFlow would.

Prints JSON: the TensorFlow version and the predictions for the manifest's example request, through the
`serving_default` signature that TensorFlow Serving calls.
"""

import json
import sys
import tarfile
import tempfile
from pathlib import Path

import tensorflow as tf

artifact = Path(sys.argv[1])
manifest = json.loads((artifact / "manifest.json").read_text())
signature = manifest["serving"]
with tempfile.TemporaryDirectory() as scratch:
    with tarfile.open(artifact / "model.tar.gz") as tarball:
        tarball.extractall(scratch, filter="data")
    serving_fn = tf.saved_model.load(str(Path(scratch) / "1")).signatures[signature["name"]]
    (input_name,) = signature["inputs"]
    (output_name,) = signature["outputs"]
    texts = tf.constant(signature["example_request"]["instances"])
    scores = serving_fn(**{input_name: texts})[output_name].numpy()
print(json.dumps({"tensorflow": tf.__version__, "predictions": scores.tolist()}))
