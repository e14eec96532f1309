"""`toxiguard train-cloud` against moto: the SageMaker requests, the source tarball, data staging, the artifact
coming back, and the entry script's mapping of hyperparameters onto the toxiguard commands (no TensorFlow)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import re
import tarfile
import tomllib

import pytest
from botocore.stub import Stubber

import toxiguard.training.pipeline
from toxiguard.artifact import latest_artifact
from toxiguard.cli import main
from toxiguard.cloud import aws, sagemaker_entry
from toxiguard.cloud import jobs as cloud
from toxiguard.config import DEFAULT_HPARAMS, PROJECT_ROOT, SEARCH_SCALES, SEARCH_SPACE, HParams
from toxiguard.training.pipeline import PipelineRequest

from .fake_aws import BUCKET, REGION, fake_aws, make_artifact, record_calls, tarball_bytes

ROLE = "arn:aws:iam::123456789012:role/toxiguard-sagemaker"
SHA = "0123456789abcdef0123456789abcdef01234567"
JOB = "toxiguard-20270101-000000"
VERSION = "20270101T000000Z-0123456"


@pytest.fixture
def session(monkeypatch):
    monkeypatch.setenv("TOXIGUARD_GIT_SHA", SHA)  # the commit the job's artifact version names
    monkeypatch.setenv("TOXIGUARD_GIT_DIRTY", "false")
    with fake_aws(monkeypatch) as session:
        yield session


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "train_small.csv"
    path.write_bytes((PROJECT_ROOT / "tests" / "fixtures" / "train_small.csv").read_bytes())
    return path


def start(session, data, *, tuning=None, name=JOB, spot=False, **kwargs):
    settings = cloud.JobSettings(bucket=BUCKET, role_arn=ROLE, region=REGION, spot=spot)
    return cloud.train_cloud(session, settings, str(data), HParams.load(DEFAULT_HPARAMS).to_dict(), seed=42,
                             validation_fraction=0.15, tuning=tuning, name=name, **kwargs)  # fmt: skip


def sent(calls, operation):
    (params,) = [p for op, p in calls if op == operation]
    return params


def test_training_job_request(session, data_file):
    calls = record_calls(session, "sagemaker")
    start(session, data_file)
    request = sent(calls, "CreateTrainingJob")
    data_sha = hashlib.sha256(data_file.read_bytes()).hexdigest()

    assert request["TrainingJobName"] == JOB
    assert request["AlgorithmSpecification"]["TrainingImage"] == (
        f"763104351884.dkr.ecr.{REGION}.amazonaws.com/tensorflow-training:2.19-cpu-py312-sagemaker"
    )
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert request["RoleArn"] == ROLE
    assert request["InputDataConfig"] == [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/{data_sha}/",
        "S3DataDistributionType": "FullyReplicated"}}}]  # fmt: skip
    assert request["OutputDataConfig"] == {"S3OutputPath": f"s3://{BUCKET}/training/"}
    assert request["ResourceConfig"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    assert request["EnableManagedSpotTraining"] is False
    assert request["Environment"] == {"TOXIGUARD_GIT_SHA": SHA, "TOXIGUARD_GIT_DIRTY": "false"}

    hyperparameters = request["HyperParameters"]
    assert all(isinstance(v, str) for v in hyperparameters.values())  # the API takes strings only
    decoded = {name: json.loads(value) for name, value in hyperparameters.items()}  # script mode: JSON-encoded
    assert decoded["sagemaker_program"] == "sagemaker_entry.py"
    assert decoded["sagemaker_submit_directory"] == f"s3://{BUCKET}/code/{JOB}/sourcedir.tar.gz"
    assert decoded["sagemaker_region"] == REGION
    assert decoded["data-file"] == "train_small.csv"
    assert decoded["seed"] == 42 and decoded["validation-fraction"] == 0.15
    assert {k: decoded[k] for k in HParams().to_dict()} == HParams.load(DEFAULT_HPARAMS).to_dict()

    described = session.client("sagemaker").describe_training_job(TrainingJobName=JOB)  # moto accepted it as sent
    assert described["HyperParameters"] == hyperparameters
    assert described["AlgorithmSpecification"]["TrainingImage"] == request["AlgorithmSpecification"]["TrainingImage"]
    code = session.client("s3").get_object(Bucket=BUCKET, Key=f"code/{JOB}/sourcedir.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(code)) as tar:
        assert "sagemaker_entry.py" in tar.getnames()


def test_metric_definitions_match_what_the_training_prints():
    objective, epoch = (re.compile(d["Regex"]) for d in cloud.METRIC_DEFINITIONS)
    final_line = sagemaker_entry.OBJECTIVE_FORMAT.format(0.978128785)
    keras_line = "697/697 - 61s - 87ms/step - loss: 0.0712 - val_loss: 0.0551 - val_mean_roc_auc: 0.9772"
    assert objective.search(final_line).group(1) == "0.978129"
    assert objective.search(keras_line) is None  # the objective is the evaluated model, not an epoch
    assert epoch.search(keras_line).group(1) == "0.9772"


def test_spot_training_waits_at_most_twice_the_runtime(session, data_file):
    calls = record_calls(session, "sagemaker")
    start(session, data_file, spot=True)
    request = sent(calls, "CreateTrainingJob")
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 14400}


def test_tuning_job_searches_the_keras_tuner_space(session, data_file):
    calls = record_calls(session, "sagemaker")
    start(session, data_file, tuning=cloud.TuningSettings(max_jobs=6, max_parallel_jobs=3), name="toxiguard-tune-x")
    request = sent(calls, "CreateHyperParameterTuningJob")
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Bayesian"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:mean_roc_auc"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 3}

    ranges = config["ParameterRanges"]
    categorical = {r["Name"]: [json.loads(v) for v in r["Values"]] for r in ranges["CategoricalParameterRanges"]}
    continuous = {r["Name"]: r for r in ranges["ContinuousParameterRanges"]}
    assert set(categorical) | set(continuous) == set(SEARCH_SPACE)
    for name, spec in SEARCH_SPACE.items():
        if isinstance(spec, list):
            assert categorical[name] == spec
        elif len(spec) == 3:  # keras-tuner's stepped floats: the same grid
            assert categorical[name] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
        else:
            assert (float(continuous[name]["MinValue"]), float(continuous[name]["MaxValue"])) == spec
    assert continuous["learning_rate"]["ScalingType"] == "Logarithmic" and SEARCH_SCALES["learning_rate"] == "log"

    definition = request["TrainingJobDefinition"]
    static = definition["StaticHyperParameters"]
    assert not set(static) & set(SEARCH_SPACE)  # a hyperparameter is either static or tuned
    assert json.loads(static["sagemaker_program"]) == "sagemaker_entry.py"
    assert json.loads(static["epochs"]) == HParams.load(DEFAULT_HPARAMS).epochs
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] == cloud.METRIC_DEFINITIONS
    assert definition["RoleArn"] == ROLE and definition["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"

    described = session.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="toxiguard-tune-x"
    )
    assert described["HyperParameterTuningJobConfig"]["ParameterRanges"] == ranges


def test_tuned_values_reach_the_entry_script_as_hparams(tmp_path):
    """SageMaker passes each range's value as the string in the request; the toolkit decodes JSON, then argv."""
    ranges = cloud.parameter_ranges()
    chosen = {r["Name"]: r["Values"][-1] for r in ranges["CategoricalParameterRanges"]}
    chosen["learning_rate"] = "0.0012"
    argv = [item for name, value in sorted(chosen.items()) for item in (f"--{name}", str(json.loads(value)))]
    (tmp_path / "train.csv").write_text("id\n")
    request = sagemaker_entry.plan(sagemaker_entry.build_parser().parse_args(argv), tmp_path, tmp_path / "work")
    hparams = request.hparams.to_dict()
    assert hparams["pooling"] == "max_avg" and hparams["vocab_size"] == 50_000 and hparams["dropout"] == 0.4
    assert hparams["learning_rate"] == 0.0012


def test_source_tarball_holds_the_code_and_nothing_else(tmp_path):
    target = tmp_path / "sourcedir.tar.gz"
    names = cloud.source_tarball(PROJECT_ROOT, target)
    with tarfile.open(target) as tar:
        assert tar.getnames() == names
        requirements = tar.extractfile("requirements.txt").read().decode()
        entry = tar.extractfile("sagemaker_entry.py").read()
    required = ["pyproject.toml", "requirements.txt", "sagemaker_entry.py", "ml/toxiguard/cli.py",
                "ml/configs/hparams.json", "ml/toxiguard/training/train.py",
                "ml/toxiguard/cloud/sagemaker_entry.py"]  # fmt: skip
    assert set(required) <= set(names)
    assert all(n in {"pyproject.toml", "requirements.txt", "sagemaker_entry.py"} or n.startswith("ml/") for n in names)
    assert not [n for n in names if "__pycache__" in n or ".egg-info" in n or n.endswith(".pyc")]
    assert entry == (PROJECT_ROOT / "ml" / "toxiguard" / "cloud" / "sagemaker_entry.py").read_bytes()
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    optional = pyproject["project"]["optional-dependencies"]
    # training names serving, which names cloud: expanded, since pip in the job installs no toxiguard
    named = [line for extra in ("training", "serving", "cloud") for line in optional[extra]]
    expected = pyproject["project"]["dependencies"] + [line for line in named if not line.startswith("toxiguard[")]
    assert sorted(requirements.splitlines()) == sorted(expected)
    assert gzip.decompress(target.read_bytes())  # a valid gzip, and deterministic:
    again = tmp_path / "again.tar.gz"
    cloud.source_tarball(PROJECT_ROOT, again)
    assert again.read_bytes() == target.read_bytes()


def test_local_data_is_uploaded_once_by_content(session, data_file, caplog):
    calls = record_calls(session, "s3")
    with caplog.at_level(logging.INFO, logger="toxiguard.cloud.jobs"):
        start(session, data_file, name="toxiguard-a")
        start(session, data_file, name="toxiguard-b")
    data_key = f"data/{hashlib.sha256(data_file.read_bytes()).hexdigest()}/train_small.csv"
    data_puts = [p for op, p in calls if op == "PutObject" and p["Key"] == data_key]
    assert len(data_puts) == 1 and data_puts[0]["ChecksumAlgorithm"] == "SHA256"
    assert "already holds this file" in caplog.text


def test_an_s3_uri_is_used_as_it_is(session):
    calls = record_calls(session, "sagemaker")
    start(session, "s3://other-bucket/jigsaw/train.csv.gz")
    request = sent(calls, "CreateTrainingJob")
    assert (
        request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://other-bucket/jigsaw/train.csv.gz"
    )
    assert json.loads(request["HyperParameters"]["data-file"]) == "train.csv.gz"
    listing = session.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="data/")
    assert "Contents" not in listing


def test_word_vectors_travel_in_their_own_channel(session, data_file, tmp_path):
    vectors = tmp_path / "crawl.vec"
    vectors.write_text("1 2\nidiot 0.5 -0.5\n")
    calls = record_calls(session, "sagemaker")
    start(session, data_file, embeddings=str(vectors))
    request = sent(calls, "CreateTrainingJob")
    uris = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]}
    vectors_key = f"embeddings/{hashlib.sha256(vectors.read_bytes()).hexdigest()}/crawl.vec"
    assert uris["embeddings"] == f"s3://{BUCKET}/{vectors_key.rsplit('/', 1)[0]}/"
    assert uris["train"].startswith(f"s3://{BUCKET}/data/")
    assert json.loads(request["HyperParameters"]["embeddings-file"]) == "crawl.vec"
    stored = session.client("s3").get_object(Bucket=BUCKET, Key=vectors_key)["Body"].read()
    assert stored == vectors.read_bytes()


def job_output(tmp_path, version: str) -> bytes:
    """What SageMaker uploads from SM_MODEL_DIR: the entry script's `<version>/` directory."""
    artifact = make_artifact(tmp_path / "made", version)
    return tarball_bytes({f"{version}/{p.name}": p.read_bytes() for p in artifact.iterdir()}
                         | {f"{version}/report/report.md": b"# report"})  # fmt: skip


def test_wait_unpacks_the_artifact_for_publish(session, data_file, tmp_path, capsys):
    version = VERSION
    output_key = f"training/{JOB}/output/model.tar.gz"  # where moto (and SageMaker) put the job's output
    session.client("s3").put_object(Bucket=BUCKET, Key=output_key, Body=job_output(tmp_path, version))
    out_root = tmp_path / "artifacts"

    submitted = start(session, data_file, wait=True, poll_seconds=0, out_root=out_root)
    assert submitted.artifact == out_root / version
    assert sorted(p.name for p in submitted.artifact.iterdir()) == ["manifest.json", "model.tar.gz", "report"]
    out = capsys.readouterr().out
    assert f"{JOB}: Completed" in out and f"make publish BUCKET={BUCKET} VERSION={version}" in out

    from toxiguard.cloud.publish import load_artifact

    assert load_artifact(submitted.artifact).version == version  # ready for `make publish`
    with pytest.raises(aws.CommandError, match="already exists"):
        cloud.download_artifact(session.client("s3"), f"s3://{BUCKET}/{output_key}", out_root)


def test_waiting_reports_a_failed_job_with_its_reason(session):
    sm = session.client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response("describe_training_job", _job("InProgress", "Training"), {"TrainingJobName": JOB})
        stub.add_response("describe_training_job", _job("Failed", "Failed", FailureReason="AlgorithmError: OOM"),
                          {"TrainingJobName": JOB})  # fmt: skip
        with pytest.raises(aws.CommandError, match=r"training job .+ failed: AlgorithmError: OOM"):
            cloud.wait_for_training(sm, JOB, poll_seconds=0)


def test_waiting_for_tuning_returns_the_best_job(session, capsys):
    """moto completes tuning jobs at once with a placeholder best job, so the progression is stubbed."""
    sm = session.client("sagemaker")
    name = {"HyperParameterTuningJobName": "toxiguard-tune-x"}
    best = {"TrainingJobName": "toxiguard-tune-x-003-abc", "TrainingJobArn": "arn:aws:sagemaker:x",
            "CreationTime": "2027-01-01", "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {"pooling": '"max"'},
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:mean_roc_auc",
                                                            "Value": 0.979}}  # fmt: skip
    with Stubber(sm) as stub:
        stub.add_response("describe_hyper_parameter_tuning_job", _tuning("InProgress", {"InProgress": 2}), name)
        stub.add_response("describe_hyper_parameter_tuning_job",
                          _tuning("Completed", {"Completed": 6}, BestTrainingJob=best), name)  # fmt: skip
        assert cloud.wait_for_tuning(sm, "toxiguard-tune-x", poll_seconds=0) == "toxiguard-tune-x-003-abc"
    out = capsys.readouterr().out
    assert "InProgress (training jobs: InProgress 2)" in out and "validation:mean_roc_auc = 0.979" in out


def test_entry_script_maps_hyperparameters_onto_the_pipeline_request(tmp_path):
    channel = tmp_path / "channel"
    channel.mkdir()
    (channel / "train.csv.gz").write_bytes(b"x")
    # As the training toolkit passes them: JSON-decoded, then `--name value`, sorted, plus tuning's own.
    argv = ["--_tuning_objective_metric", "validation:mean_roc_auc", "--data-file", "train.csv.gz", "--dropout",
            "0.1", "--epochs", "3", "--pooling", "max", "--seed", "7", "--validation-fraction", "0.2"]  # fmt: skip
    args, ignored = sagemaker_entry.build_parser().parse_known_args(argv)
    assert ignored == ["--_tuning_objective_metric", "validation:mean_roc_auc"]
    request = sagemaker_entry.plan(args, channel, tmp_path / "work")

    expected = {**HParams.load(DEFAULT_HPARAMS).to_dict(), "dropout": 0.1, "epochs": 3, "pooling": "max"}
    assert request.hparams.to_dict() == expected
    assert request == PipelineRequest(
        data=channel / "train.csv.gz", work=tmp_path / "work", hparams=HParams.from_dict(expected), seed=7,
        validation_fraction=0.2,
    )  # fmt: skip
    assert request.run_dir == tmp_path / "work" / "run"


def test_entry_script_trains_from_the_embeddings_channel_when_the_job_has_one(tmp_path):
    channel, vectors = tmp_path / "train", tmp_path / "embeddings"
    for directory, name in ((channel, "train.csv"), (vectors, "crawl-300d-2M.vec.gz")):
        directory.mkdir()
        (directory / name).write_bytes(b"x")
    args = sagemaker_entry.build_parser().parse_args([])
    assert (
        sagemaker_entry.plan(args, channel, tmp_path / "work", vectors).embeddings == vectors / "crawl-300d-2M.vec.gz"
    )
    assert sagemaker_entry.plan(args, channel, tmp_path / "work").embeddings is None
    args = sagemaker_entry.build_parser().parse_args(["--embeddings-file", "missing.vec"])
    with pytest.raises(FileNotFoundError, match=r"missing\.vec not found in the embeddings channel"):
        sagemaker_entry.plan(args, channel, tmp_path / "work", vectors)


def test_the_request_hyperparameters_round_trip_through_the_toolkit(tmp_path):
    hparams = {**HParams().to_dict(), "pooling": "avg", "learning_rate": 0.003}
    request = cloud.pipeline_hyperparameters(hparams, "train.csv", 5, 0.25)
    argv = [item for name, value in sorted(request.items()) for item in (f"--{name}", str(json.loads(value)))]
    (tmp_path / "train.csv").write_text("id\n")
    args = sagemaker_entry.build_parser().parse_args(argv)
    planned = sagemaker_entry.plan(args, tmp_path, tmp_path / "work")
    assert planned.hparams.to_dict() == hparams
    assert (planned.seed, planned.validation_fraction) == (5, 0.25)


def test_entry_script_runs_the_pipeline_and_leaves_the_artifact_in_the_model_dir(tmp_path, monkeypatch, capsys):
    channel, model_dir = tmp_path / "channel", tmp_path / "model"
    channel.mkdir()
    (channel / "train.csv").write_bytes(b"x")
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(channel))
    monkeypatch.setenv("SM_MODEL_DIR", str(model_dir))
    requests = []

    def fake_pipeline(request):  # the real stages need TensorFlow and minutes; the wiring is what is checked here
        requests.append(request)
        return make_artifact(request.artifacts_dir, VERSION, mean=0.97)

    monkeypatch.setattr(toxiguard.training.pipeline, "run_pipeline", fake_pipeline)
    assert sagemaker_entry.main(["--epochs", "2"]) == 0
    assert [r.hparams.epochs for r in requests] == [2]
    assert sorted(p.name for p in (model_dir / VERSION).iterdir()) == ["manifest.json", "model.tar.gz"]
    assert capsys.readouterr().out.strip().splitlines()[-1] == "val_mean_roc_auc=0.970000"


def test_entry_script_fails_without_writing_the_model_dir_when_a_stage_fails(tmp_path, monkeypatch):
    (tmp_path / "train.csv").write_bytes(b"x")
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(tmp_path))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))

    def failing_pipeline(request):
        raise RuntimeError("exported model differs from the trained one")

    monkeypatch.setattr(toxiguard.training.pipeline, "run_pipeline", failing_pipeline)
    with pytest.raises(RuntimeError, match="differs"):
        sagemaker_entry.main([])
    assert not (tmp_path / "model").exists()


def test_cli_exit_codes(session, data_file, capsys):
    base = ["train-cloud", "--bucket", BUCKET, "--region", REGION, "--data", str(data_file)]
    with pytest.raises(SystemExit) as exc:
        main([*base, "--role-arn", "not-an-arn"])
    assert exc.value.code == 2
    assert main(["train-cloud", "--bucket", "missing-bucket-x", "--region", REGION, "--role-arn", ROLE]) == 1
    assert "bucket 'missing-bucket-x' does not exist" in capsys.readouterr().err
    assert main([*base, "--role-arn", ROLE, "--data", str(data_file.with_name("absent.csv"))]) == 1
    assert "absent.csv not found" in capsys.readouterr().err
    assert main([*base, "--role-arn", ROLE, "--tune", "--max-jobs", "4", "--job-name", "toxiguard-tune-cli"]) == 0
    assert "started tuning job toxiguard-tune-cli" in capsys.readouterr().out


def test_the_cloud_commands_run_with_only_the_cloud_extra(python_without):
    """`pip install toxiguard[cloud]` has no TensorFlow, NumPy or scikit-learn: the CLI and the cloud package must
    import, parse and publish-check without them."""
    code = f"""
from toxiguard import cli
from toxiguard.cloud import publish, jobs, aws, sagemaker_entry, smoke, transform
cli.build_parser()
print(publish.load_artifact({str(latest_artifact(PROJECT_ROOT / "artifacts"))!r}).version)
"""
    run = python_without(("tensorflow", "keras", "numpy", "sklearn", "matplotlib"), code, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == latest_artifact(PROJECT_ROOT / "artifacts").name


def _job(status, secondary, **extra):
    return {"TrainingJobName": JOB, "TrainingJobArn": "arn:aws:sagemaker:x", "TrainingJobStatus": status,
            "SecondaryStatus": secondary, "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "ModelArtifacts": {"S3ModelArtifacts": "s3://b/k"}, "ResourceConfig": {"VolumeSizeInGB": 30},
            "StoppingCondition": {}, "CreationTime": "2027-01-01", **extra}  # fmt: skip


def _tuning(status, counters, **extra):
    return {"HyperParameterTuningJobName": "toxiguard-tune-x", "HyperParameterTuningJobArn": "arn:aws:sagemaker:x",
            "HyperParameterTuningJobConfig": {"Strategy": "Bayesian", "ResourceLimits": {"MaxParallelTrainingJobs": 1}},
            "HyperParameterTuningJobStatus": status, "CreationTime": "2027-01-01",
            "TrainingJobStatusCounters": counters, "ObjectiveStatusCounters": {}, **extra}  # fmt: skip
