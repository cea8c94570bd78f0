"""`pipeline export --evaluate-code`: an Evaluate step (createProcessingJob.sync) after the train step over
the trained model, the registered package carrying its evaluation.json; the role's actions; cfn-lint."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import smtrain
from smtrain.core.errors import UsageError
from smtrain.pipeline.build import Exported, export
from smtrain.pipeline.cfn import actions_used, template
from smtrain.pipeline.evaluation import evaluation_spec
from smtrain.pipeline.spec import Gate
from smtrain.pipeline.tuning import tuning_spec
from smtrain.planning.kinds import PROCESSING
from tests.pipeline_examples import REPO, ROOT, penguins, penguins_spec
from tests.unit.test_pipeline_export import cfn_lint

CODE = str(REPO / "entry_points" / "penguins_evaluate.py")
TEST = f"{ROOT}/data/penguins/test/"


@pytest.fixture
def session(home: Path, monkeypatch: pytest.MonkeyPatch) -> smtrain.Session:
    monkeypatch.setattr("smtrain.runs.provenance.run_tags", lambda source_dir: {"smtrain:git-commit": "0" * 40})
    return smtrain.Session(quiet=True)


def evaluated(session: smtrain.Session, *, gate: Gate | None = None, tune: bool = False) -> Exported:
    plain = penguins_spec(session, hyperparameters={"target": "sex"}, gate=gate)
    spec = replace(plain, evaluation=evaluation_spec(session, plain.name, CODE, [f"test={TEST}"],
                                                     ["--output-dir", "/opt/ml/processing/evaluation"]))
    if tune:
        spec = replace(spec, tuning=tuning_spec(spec, {"ranges": {"C": "continuous:0.01:10:log"},
                                                       "objective": "train:accuracy", "max_jobs": 2}))
    return export(session, spec, root=ROOT)


def test_evaluate_runs_after_training_over_the_trained_model(session: smtrain.Session) -> None:
    exported = evaluated(session)
    states = exported.definition["States"]
    assert states["Train"]["Next"] == "Evaluate" and states["Evaluate"]["Next"] == "Find group"
    evaluate = states["Evaluate"]
    assert evaluate["Resource"] == PROCESSING.sync_resource == "arn:aws:states:::sagemaker:createProcessingJob.sync"
    parameters = evaluate["Parameters"]
    assert parameters["ProcessingJobName.$"].startswith("States.Format('penguins-{}-eval-{}'")
    inputs = {item["InputName"]: item["S3Input"] for item in parameters["ProcessingInputs"]}
    assert inputs["model"]["S3Uri.$"] == "$.training.ModelArtifacts.S3ModelArtifacts"
    assert inputs["model"]["LocalPath"] == "/opt/ml/processing/model"
    assert (inputs["test"]["S3Uri"], inputs["test"]["LocalPath"]) == (TEST, "/opt/ml/processing/test")
    assert parameters["AppSpecification"]["ContainerArguments"] == ["--output-dir", "/opt/ml/processing/evaluation"]
    (output,) = parameters["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri.$"] == f"States.Format('{ROOT}/penguins-{{}}/evaluation', $$.Execution.Name)"
    statistics = states["Register"]["Parameters"]["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"
    assert statistics["S3Uri.$"] == (f"States.Format('{ROOT}/penguins-{{}}/evaluation/evaluation.json', "
                                     "$$.Execution.Name)")
    assert inputs["code"]["S3Uri"] in {upload.uri for upload in exported.uploads}


def test_with_tuning_the_best_trial_is_evaluated(session: smtrain.Session) -> None:
    states = evaluated(session, tune=True).definition["States"]
    assert states["Best trial"]["Next"] == "Evaluate"


def test_the_role_gains_exactly_what_the_evaluate_step_needs(session: smtrain.Session) -> None:
    plain = set(actions_used(penguins(session, hyperparameters={"target": "sex"}).definition))
    with_evaluation = set(actions_used(evaluated(session).definition))
    assert with_evaluation - plain == {PROCESSING.create, PROCESSING.describe, PROCESSING.stop}
    text = str(template(evaluated(session)))
    assert PROCESSING.sync_rule in text and "processing-job/penguins-*" in text


@pytest.mark.parametrize("gate", [Gate(), Gate("train:accuracy", 0.8)])
def test_templates_with_an_evaluate_step_pass_cfn_lint(session: smtrain.Session, gate: Gate) -> None:
    assert cfn_lint(template(evaluated(session, gate=gate))) == []


def test_the_evaluate_step_needs_a_test_input(session: smtrain.Session) -> None:
    with pytest.raises(UsageError) as caught:
        evaluation_spec(session, "penguins", CODE, [], [])
    assert caught.value.where == "--evaluate-input"


def prepared(session: smtrain.Session, *, evaluate: bool = True) -> Exported:
    from smtrain.pipeline.preprocess import PLACEHOLDER, preprocess_spec

    prep = preprocess_spec(session, "penguins", str(REPO / "entry_points/penguins_preprocess.py"),
                           [f"raw={ROOT}/data/penguins/raw/:/opt/ml/processing/input"],
                           ["train=/opt/ml/processing/train", "test=/opt/ml/processing/test"], [])
    plain = penguins(session, channel=f"{PLACEHOLDER}train/", hyperparameters={"target": "sex"}, gate=Gate())
    spec = replace(plain.spec, preprocess=prep)
    if evaluate:
        spec = replace(spec, evaluation=evaluation_spec(session, "penguins", CODE, [f"test={PLACEHOLDER}test/"], []))
    return export(session, spec, root=ROOT)


def test_preprocess_runs_first_and_its_outputs_are_the_channels_and_the_test_set(session: smtrain.Session) -> None:
    exported = prepared(session)
    states = exported.definition["States"]
    assert states["Resolve settings"]["Next"] == "Preprocess" and states["Preprocess"]["Next"] == "Train"
    assert states["Preprocess"]["Resource"] == PROCESSING.sync_resource
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri.$"]
               for o in states["Preprocess"]["Parameters"]["ProcessingOutputConfig"]["Outputs"]}
    assert outputs["train"] == f"States.Format('{ROOT}/penguins-{{}}/preprocess/train', $$.Execution.Name)"
    (channel,) = states["Train"]["Parameters"]["InputDataConfig"]
    assert channel["DataSource"]["S3DataSource"]["S3Uri.$"] == outputs["train"]
    test = next(i for i in states["Evaluate"]["Parameters"]["ProcessingInputs"] if i["InputName"] == "test")
    assert test["S3Input"]["S3Uri.$"] == outputs["test"]
    # the channel is the Preprocess output, not an execution-input setting
    assert "train" not in states["Apply defaults"]["Parameters"]["defaults"]["channels"]
    assert cfn_lint(template(exported)) == []


def test_a_gate_on_an_evaluation_metric_reads_the_report_in_the_state_machine(session: smtrain.Session) -> None:
    from smtrain.pipeline.cfn import policy
    from smtrain.pipeline.checks import check_definition

    exported = evaluated(session, gate=Gate("evaluation:accuracy", 0.8))
    states = exported.definition["States"]
    read = states["Has metric"]
    assert read["Resource"] == "arn:aws:states:::aws-sdk:s3:getObject"
    assert read["Parameters"] == {"Bucket": "example-bucket", "Key.$": (
        "States.Format('smtrain/penguins-{}/evaluation/evaluation.json', $$.Execution.Name)")}
    assert read["ResultSelector"] == {"report.$": "States.StringToJson($.Body)"}
    assert states["Read metric"]["Parameters"] == {"values.$": "$.evaluation.report.*.accuracy.value"}
    assert states["Pick metric"]["Next"] == "Check threshold"
    check_definition(exported.definition, where="definition")
    statements = {s["Sid"]: s for s in policy(exported)["Statement"]}
    assert statements["ReadEvaluationReports"]["Action"] == "s3:GetObject"
    assert statements["ReadEvaluationReports"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::example-bucket/smtrain/penguins-*"}]
    assert not any(s["Action"] == "sagemaker:GetObject" for s in statements.values())
    assert cfn_lint(template(exported)) == []


@pytest.mark.parametrize(("gate", "where"), [
    (Gate("evaluation:accuracy", 0.8, champion=True), "--gate-champion"),
    (Gate("evaluation:accuracy"), "--gate-metric"),
    (Gate("evaluation:", 0.8), "--gate-metric"),
])
def test_an_evaluation_gate_is_refused_when_it_cannot_work(session: smtrain.Session, gate: Gate, where: str) -> None:
    with pytest.raises(UsageError) as refused:
        evaluated(session, gate=gate)
    assert refused.value.where == where


def test_an_evaluation_gate_needs_the_evaluate_step(session: smtrain.Session) -> None:
    with pytest.raises(UsageError, match="reads the Evaluate step's report") as refused:
        penguins(session, hyperparameters={"target": "sex"}, gate=Gate("evaluation:accuracy", 0.8))
    assert refused.value.where == "--gate-metric"
