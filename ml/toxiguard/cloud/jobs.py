"""`toxiguard train-cloud`: the `make model` pipeline as a SageMaker training job, or an automatic model tuning job.

Plain boto3: the sagemaker SDK 3.x dropped the TensorFlow estimator and pulls in about 1 GB of dependencies.

1. Data: a local training file goes to `s3://<bucket>/data/<sha256>/<name>` once (skipped when already there);
   an `s3://` URI is used as it is.
2. Code: pyproject.toml, `ml/` and a requirements.txt holding the project's dependencies, with
   `ml/toxiguard/cloud/sagemaker_entry.py` at the root, as `s3://<bucket>/code/<job>/sourcedir.tar.gz`.
3. A job on AWS's TensorFlow training image in script mode: the container installs requirements.txt and runs
   `sagemaker_entry.py`, which runs `toxiguard train`, `evaluate` and `package`. The artifact directory comes
   back as `s3://<bucket>/training/<job>/output/model.tar.gz`. `--tune` searches `config.SEARCH_SPACE`, the
   space `make tune` searches with keras-tuner, maximising the evaluated mean validation ROC-AUC.
4. `--wait` follows the job and unpacks its artifact (for tuning: the best job's) into `artifacts/<version>/`,
   ready for `make publish`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import json
import logging
import re
import shutil
import tarfile
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path

from toxiguard.artifact import MANIFEST_FILE, VERSION_PATTERN
from toxiguard.cloud import BUCKET_NAME
from toxiguard.cloud.aws import CommandError, aws_errors, check_bucket, follow_job, object_exists, upload_file
from toxiguard.cloud.sagemaker_entry import OBJECTIVE_REGEX
from toxiguard.config import PROJECT_ROOT, SEARCH_SCALES, SEARCH_SPACE, file_sha256, git_state

log = logging.getLogger(__name__)

# AWS Deep Learning Containers account of the commercial regions (opt-in and China regions use others:
# pass --image-uri there). Python 3.12 matches the project; the job upgrades TensorFlow to the project's pin.
DLC_ACCOUNT = "763104351884"
DEFAULT_IMAGE_TAG = "2.19-cpu-py312-sagemaker"
# 4 vCPUs (2 cores, like the machine the README's 5-minute `make train` ran on) and 8 GiB: the Bi-LSTM steps
# through time and gains little from more cores or a GPU, and 52k comments fit in a fraction of the memory.
DEFAULT_INSTANCE_TYPE = "ml.c5.xlarge"
DEFAULT_MAX_RUNTIME_SECONDS = 2 * 3600
DEFAULT_VOLUME_GB = 30
# Input channels: SageMaker copies each S3 prefix to /opt/ml/input/data/<channel>/ (the entry script reads both).
TRAIN_CHANNEL = "train"
EMBEDDINGS_CHANNEL = "embeddings"
ENTRY_SCRIPT = "sagemaker_entry.py"
SOURCE_TARBALL = "sourcedir.tar.gz"
OBJECTIVE_METRIC = "validation:mean_roc_auc"
# The objective comes from the entry script's last line; the epoch curve from Keras' per-epoch log line.
METRIC_DEFINITIONS = [
    {"Name": OBJECTIVE_METRIC, "Regex": OBJECTIVE_REGEX},
    {"Name": "epoch:val_mean_roc_auc", "Regex": r"val_mean_roc_auc: ([0-9]*\.[0-9]+)"},
]
SKIPPED_SOURCE = ("__pycache__", ".egg-info", ".pyc")


@dataclasses.dataclass(frozen=True)
class JobSettings:
    """Where and on what a job runs."""

    bucket: str
    role_arn: str
    region: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME_SECONDS
    spot: bool = False  # managed spot: cheaper, may be interrupted (the job then restarts from scratch)
    volume_gb: int = DEFAULT_VOLUME_GB
    image_uri: str | None = None

    @property
    def training_image(self) -> str:
        registry = f"{DLC_ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com"
        return self.image_uri or f"{registry}/tensorflow-training:{DEFAULT_IMAGE_TAG}"


@dataclasses.dataclass(frozen=True)
class TuningSettings:
    max_jobs: int = 8
    max_parallel_jobs: int = 2
    strategy: str = "Bayesian"


# --------------------------------------------------------------------------------------------------
# Inputs: data and code
# --------------------------------------------------------------------------------------------------


def parse_s3_uri(uri: str) -> tuple[str, str]:
    match = re.match(rf"^s3://({BUCKET_NAME})/(.+)$", uri)
    if not match:
        raise CommandError(f"{uri} is not an s3://<bucket>/<key> URI", 2)
    return match.group(1), match.group(2)


def stage_input(s3, bucket: str, source: str, prefix: str) -> tuple[str, str | None]:
    """(S3 URI for a channel, file name in the channel) of a local file or an s3:// URI.

    A local file goes to `<prefix>/<sha256>/<name>` once: a second job with the same content reuses it.
    """
    if source.startswith("s3://"):
        _, key = parse_s3_uri(source)
        return source, None if key.endswith("/") else key.rsplit("/", 1)[-1]
    path = Path(source)
    if not path.is_file():
        raise CommandError(f"{path} not found: pass a local file or an s3:// URI", 1)
    sha256 = file_sha256(path)
    key = f"{prefix}/{sha256}/{path.name}"
    if object_exists(s3, bucket, key):
        log.info("s3://%s/%s already holds this file; not uploading it again", bucket, key)
    else:
        upload_file(s3, path, bucket, key, content_type="application/octet-stream", sha256=sha256)
    return f"s3://{bucket}/{key.rsplit('/', 1)[0]}/", path.name


JOB_EXTRAS = ("training",)  # the job trains, evaluates and packages


def requirements(pyproject: Path, extras: Iterable[str] = JOB_EXTRAS) -> str:
    """What the job installs, as pip reads it (one place: pyproject.toml): the base dependencies and `extras`, with
    the extras they name (`toxiguard[serving]`) expanded, since the job runs the uploaded source, not a package."""
    project = tomllib.loads(pyproject.read_text())["project"]
    optional, own_extra = project.get("optional-dependencies", {}), f"{project['name']}["
    lines, pending, seen = list(project["dependencies"]), list(extras), set()
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for line in optional[extra]:
            if line.startswith(own_extra):
                pending.extend(line[len(own_extra) : line.index("]")].split(","))
            else:
                lines.append(line)
    return "".join(f"{line}\n" for line in lines)


def _source_files(root: Path) -> Iterable[tuple[Path, str]]:
    yield root / "pyproject.toml", "pyproject.toml"
    yield root / "ml" / "toxiguard" / "cloud" / ENTRY_SCRIPT, ENTRY_SCRIPT
    for path in sorted((root / "ml").rglob("*")):
        if path.is_file() and not any(part.endswith(SKIPPED_SOURCE) for part in path.relative_to(root).parts):
            yield path, path.relative_to(root).as_posix()


def source_tarball(root: Path, target: Path) -> list[str]:
    """Deterministic gzip tar of what the job runs; returns its member names."""

    def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))

    names = []
    with (
        open(target, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,  # no name or time in the header
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        add(tar, "requirements.txt", requirements(root / "pyproject.toml").encode())
        names.append("requirements.txt")
        for path, name in _source_files(root):
            add(tar, name, path.read_bytes())
            names.append(name)
    return names


def stage_code(s3, bucket: str, job_name: str, root: Path = PROJECT_ROOT) -> str:
    key = f"code/{job_name}/{SOURCE_TARBALL}"
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / SOURCE_TARBALL
        source_tarball(root, tarball)
        upload_file(s3, tarball, bucket, key, content_type="application/gzip", sha256=file_sha256(tarball))
    return f"s3://{bucket}/{key}"


# --------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------


def job_name(prefix: str = "toxiguard", now: dt.datetime | None = None) -> str:
    """`<prefix>-<UTC time>`: unique per second, within the 32 characters a tuning job name may have."""
    return f"{prefix}-{(now or dt.datetime.now(dt.UTC)):%Y%m%d-%H%M%S}"


def script_mode_hyperparameters(code_uri: str, region: str) -> dict[str, str]:
    """What the TensorFlow training container reads to fetch and run the entry script (JSON-encoded strings)."""
    return {
        "sagemaker_program": json.dumps(ENTRY_SCRIPT),
        "sagemaker_submit_directory": json.dumps(code_uri),
        "sagemaker_region": json.dumps(region),
        "sagemaker_container_log_level": json.dumps(logging.INFO),
    }


def pipeline_hyperparameters(
    hparams: dict, data_file: str | None, seed: int, validation_fraction: float, embeddings_file: str | None = None
) -> dict:
    """The entry script's options, JSON-encoded as the container expects (it decodes before passing them on)."""
    values = {**hparams, "seed": seed, "validation-fraction": validation_fraction}
    if data_file:
        values["data-file"] = data_file
    if embeddings_file:
        values["embeddings-file"] = embeddings_file
    return {name: json.dumps(value) for name, value in values.items()}


def parameter_ranges(space: dict = SEARCH_SPACE, scales: dict = SEARCH_SCALES) -> dict:
    """The keras-tuner space as SageMaker ranges: choices and stepped floats are categorical, the rest continuous."""
    categorical, continuous = [], []
    for name, spec in space.items():
        if isinstance(spec, list):
            values = spec
        elif len(spec) == 3:
            low, high, step = spec
            values = [round(low + i * step, 10) for i in range(round((high - low) / step) + 1)]
        else:
            low, high = spec
            scaling = "Logarithmic" if scales.get(name) == "log" else "Linear"
            continuous.append({"Name": name, "MinValue": str(low), "MaxValue": str(high), "ScalingType": scaling})
            continue
        categorical.append({"Name": name, "Values": [json.dumps(v) for v in values]})
    return {"ContinuousParameterRanges": continuous, "CategoricalParameterRanges": categorical}


def _job_definition(settings: JobSettings, channels: dict[str, str], output_uri: str, environment: dict) -> dict:
    """The parts a training job and a tuning job's training definition share; `channels` maps name to S3 URI."""
    stopping = {"MaxRuntimeInSeconds": settings.max_runtime_seconds}
    if settings.spot:
        stopping["MaxWaitTimeInSeconds"] = 2 * settings.max_runtime_seconds  # time to get spot capacity
    return {
        "AlgorithmSpecification": {
            "TrainingImage": settings.training_image,
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        "RoleArn": settings.role_arn,
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for channel, uri in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {
            "InstanceType": settings.instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": settings.volume_gb,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": settings.spot,
        "Environment": environment,
    }


def training_job_request(name: str, settings: JobSettings, hyperparameters: dict, channels: dict[str, str],
                         code_uri: str, environment: dict) -> dict:  # fmt: skip
    return {
        "TrainingJobName": name,
        "HyperParameters": {
            **hyperparameters,
            **script_mode_hyperparameters(code_uri, settings.region),
            "sagemaker_job_name": json.dumps(name),
        },
        **_job_definition(settings, channels, f"s3://{settings.bucket}/training/", environment),
    }


def tuning_job_request(name: str, settings: JobSettings, tuning: TuningSettings, hyperparameters: dict,
                       channels: dict[str, str], code_uri: str, environment: dict) -> dict:  # fmt: skip
    ranges = parameter_ranges()
    tuned = {r["Name"] for kind in ranges.values() for r in kind}
    static = {k: v for k, v in hyperparameters.items() if k not in tuned}  # a name may not be both
    definition = _job_definition(settings, channels, f"s3://{settings.bucket}/training/", environment)
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": tuning.strategy,
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": OBJECTIVE_METRIC},
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": tuning.max_jobs,
                "MaxParallelTrainingJobs": tuning.max_parallel_jobs,
            },
            "ParameterRanges": ranges,
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {**static, **script_mode_hyperparameters(code_uri, settings.region)},
            **definition,
        },
    }


# --------------------------------------------------------------------------------------------------
# Waiting and collecting the artifact
# --------------------------------------------------------------------------------------------------


def wait_for_training(sm, name: str, poll_seconds: float) -> str:
    """Follow a training job, printing each status change; the S3 URI of its output on success."""

    def progress(job: dict) -> str:
        message = (job.get("SecondaryStatusTransitions") or [{}])[-1].get("StatusMessage", "")
        line = f"{name}: {job['TrainingJobStatus']} / {job.get('SecondaryStatus')}"
        return f"{line}: {message}" if message else line

    job = follow_job(lambda: sm.describe_training_job(TrainingJobName=name), "TrainingJobStatus", progress,
                     f"training job {name}", poll_seconds)  # fmt: skip
    return job["ModelArtifacts"]["S3ModelArtifacts"]


def wait_for_tuning(sm, name: str, poll_seconds: float) -> str:
    """Follow a tuning job, printing its counters; the best training job's name on success."""

    def progress(job: dict) -> str:
        counters = job.get("TrainingJobStatusCounters", {})
        done = ", ".join(f"{k} {v}" for k, v in counters.items() if v)
        return f"{name}: {job['HyperParameterTuningJobStatus']}" + (f" (training jobs: {done})" if done else "")

    job = follow_job(lambda: sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name),
                     "HyperParameterTuningJobStatus", progress, f"tuning job {name}", poll_seconds)  # fmt: skip
    best = job["BestTrainingJob"]
    metric = best.get("FinalHyperParameterTuningJobObjectiveMetric", {})
    print(f"best job {best['TrainingJobName']}: {metric.get('MetricName')} = {metric.get('Value')}")
    print(f"its hyperparameters: {json.dumps(best.get('TunedHyperParameters', {}))}")
    return best["TrainingJobName"]


def download_artifact(s3, output_uri: str, out_root: Path) -> Path:
    """Unpack a job's output (`<version>/model.tar.gz`, `manifest.json`, `report/`) into `<out_root>/<version>/`."""
    bucket, key = parse_s3_uri(output_uri)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "output.tar.gz"
        s3.download_file(bucket, key, str(archive))
        with tarfile.open(archive, "r:gz") as tar:
            tops = {Path(m.name).parts[0] for m in tar.getmembers() if Path(m.name).parts}
            manifests = [m.name for m in tar.getmembers() if Path(m.name).name == MANIFEST_FILE]
            if len(tops) != 1 or not VERSION_PATTERN.match(version := tops.pop()) or not manifests:
                raise CommandError(f"{output_uri} does not hold one packaged model directory <version>/manifest.json")
            target = out_root / version
            if target.exists():
                raise CommandError(f"{target} already exists; not replacing it")
            tar.extractall(tmp, filter="data")
        out_root.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(tmp) / version), target)
    return target


# --------------------------------------------------------------------------------------------------
# Entry
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Submitted:
    kind: str  # "training" or "tuning"
    name: str
    artifact: Path | None


def train_cloud(
    session,
    settings: JobSettings,
    data: str,
    hparams: dict,
    *,
    seed: int,
    validation_fraction: float,
    tuning: TuningSettings | None = None,
    embeddings: str | None = None,
    name: str | None = None,
    wait: bool = False,
    poll_seconds: float = 30.0,
    out_root: Path | None = None,
    source_root: Path = PROJECT_ROOT,
) -> Submitted:
    """Stage data, word vectors (`embeddings`, optional) and code, start the job; with `wait`, fetch its artifact."""
    sha, dirty = git_state(source_root)
    if sha == "unknown":
        raise CommandError(f"{source_root} is not a git checkout: the artifact's version names the commit")
    name = name or job_name("toxiguard-tune" if tuning else "toxiguard")
    environment = {"TOXIGUARD_GIT_SHA": sha, "TOXIGUARD_GIT_DIRTY": "true" if dirty else "false"}
    with aws_errors(f"staging data and code in s3://{settings.bucket}/"):
        s3, sm = session.client("s3"), session.client("sagemaker")
        check_bucket(s3, settings.bucket)
        data_uri, data_file = stage_input(s3, settings.bucket, data, "data")
        channels = {TRAIN_CHANNEL: data_uri}
        embeddings_file = None
        if embeddings:
            channels[EMBEDDINGS_CHANNEL], embeddings_file = stage_input(s3, settings.bucket, embeddings, "embeddings")
        code_uri = stage_code(s3, settings.bucket, name, source_root)
    hyperparameters = pipeline_hyperparameters(hparams, data_file, seed, validation_fraction, embeddings_file)
    with aws_errors(f"starting SageMaker job {name}"):
        if tuning:
            sm.create_hyper_parameter_tuning_job(
                **tuning_job_request(name, settings, tuning, hyperparameters, channels, code_uri, environment)
            )
        else:
            sm.create_training_job(
                **training_job_request(name, settings, hyperparameters, channels, code_uri, environment)
            )
    kind = "tuning" if tuning else "training"
    print(f"started {kind} job {name} (data {data_uri}, code {code_uri})", flush=True)
    if not wait:
        return Submitted(kind, name, None)
    with aws_errors(f"following SageMaker job {name}"):
        best = wait_for_tuning(sm, name, poll_seconds) if tuning else name
        output_uri = wait_for_training(sm, best, poll_seconds)
        artifact = download_artifact(s3, output_uri, out_root or PROJECT_ROOT / "artifacts")
    print(f"artifact unpacked into {artifact}; publish it with: make publish BUCKET={settings.bucket} "
          f"VERSION={artifact.name}")  # fmt: skip
    return Submitted(kind, name, artifact)
