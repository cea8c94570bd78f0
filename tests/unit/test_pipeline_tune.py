"""`pipeline export --tune`: the train step a tuning step, the best trial flowing on; the role's actions;
cfn-lint."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import smtrain
from smtrain.core.errors import UsageError
from smtrain.pipeline.build import Exported, export
from smtrain.pipeline.cfn import actions_used, template
from smtrain.pipeline.export import training_selector
from smtrain.pipeline.paths import evaluate
from smtrain.pipeline.spec import Gate
from smtrain.pipeline.tuning import tuning_spec
from smtrain.planning.kinds import TUNING
from tests.pipeline_examples import ROOT, penguins
from tests.unit.test_pipeline_export import cfn_lint

SEARCH = {"ranges": {"C": "continuous:0.01:10:log"}, "objective": "train:accuracy", "max_jobs": 4,
          "max_parallel": 2, "strategy": "Random"}


@pytest.fixture
def session(home: Path, monkeypatch: pytest.MonkeyPatch) -> smtrain.Session:
    monkeypatch.setattr("smtrain.runs.provenance.run_tags", lambda source_dir: {"smtrain:git-commit": "0" * 40})
    return smtrain.Session(quiet=True)


def tuned(session: smtrain.Session, **search: Any) -> Exported:
    plain = penguins(session, hyperparameters={"target": "sex"})
    spec = replace(plain.spec, tuning=tuning_spec(plain.spec, {**SEARCH, **search}))
    return export(session, spec, root=ROOT)


def test_the_train_step_becomes_tune_then_best_trial(session: smtrain.Session) -> None:
    exported = tuned(session)
    states = exported.definition["States"]
    assert "Train" not in states and states["Resolve settings"]["Next"] == "Tune"
    tune = states["Tune"]
    assert tune["Resource"] == TUNING.sync_resource == "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync"
    parameters = tune["Parameters"]
    config = parameters["HyperParameterTuningJobConfig"]
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2}
    assert config["ParameterRanges"]["ContinuousParameterRanges"][0]["Name"] == "C"
    definition = parameters["TrainingJobDefinition"]
    # Bound at run time as the Train step's request is: static values from the execution input.
    assert definition["StaticHyperParameters.$"] == "States.JsonMerge($.hyperparameters, $.sdk, false)"
    assert definition["HyperParameterTuningResourceConfig"]["InstanceType.$"] == "$.args.instance_type"
    assert "TrainingJobName.$" not in definition
    best = states["Best trial"]
    assert best["Parameters"] == {"TrainingJobName.$": "$.tuning.BestTrainingJob.TrainingJobName"}
    assert best["ResultPath"] == "$.training" and best["ResultSelector"] == training_selector(exported.spec)
    assert best["Next"] == "Find group"


def test_the_tuning_job_name_fits_32_characters_under_the_pipelines_prefix(session: smtrain.Session) -> None:
    expression = tuned(session).definition["States"]["Tune"]["Parameters"]["HyperParameterTuningJobName.$"]
    names = {evaluate(expression, {}, {}) for _ in range(5)}
    assert len(names) == 5  # a new name for every attempt
    for name in names:
        assert name.startswith("penguins-") and len(name) <= 32


def test_the_role_gains_exactly_what_tuning_needs(session: smtrain.Session) -> None:
    plain = set(actions_used(penguins(session, hyperparameters={"target": "sex"}).definition))
    with_tuning = set(actions_used(tuned(session).definition))
    # The Step Functions developer guide's policy for createHyperParameterTuningJob.sync; the trials are created
    # by SageMaker under the job's own RoleArn, so the state machine no longer creates or stops training jobs.
    assert with_tuning - plain == {"CreateHyperParameterTuningJob", "DescribeHyperParameterTuningJob",
                                   "StopHyperParameterTuningJob", "ListTags",
                                   "ListTrainingJobsForHyperParameterTuningJob"}
    assert plain - with_tuning == {"CreateTrainingJob", "StopTrainingJob"}
    text = str(template(tuned(session)))
    assert TUNING.sync_rule in text and "hyper-parameter-tuning-job/penguins-*" in text


@pytest.mark.parametrize("gate", [Gate(), Gate("train:accuracy", 0.8), Gate("train:accuracy", champion=True)])
def test_tuned_templates_pass_cfn_lint(session: smtrain.Session, gate: Gate) -> None:
    plain = penguins(session, hyperparameters={"target": "sex"}, gate=gate)
    spec = replace(plain.spec, tuning=tuning_spec(plain.spec, SEARCH))
    assert cfn_lint(template(export(session, spec, root=ROOT))) == []


def test_a_bad_search_is_refused_at_export(session: smtrain.Session) -> None:
    with pytest.raises(UsageError, match="not among the metric definitions"):
        tuned(session, objective="loss")
