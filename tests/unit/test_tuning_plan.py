"""Tuning, planned with no I/O: the kind against botocore's model, ranges, every refusal before anything runs,
and the local searches (Random and Grid exact, Bayesian within the ranges under their scaling)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from smtrain.backends.local.tuning.operations import trial_request
from smtrain.backends.local.tuning.search import BayesianSearch, GridSearch, RandomSearch
from smtrain.backends.local.tuning.tuner import trial_name, trials_at_once
from smtrain.core.errors import UsageError
from smtrain.planning.kinds import TUNING, by_create
from smtrain.planning.spec import TrainingSpec
from smtrain.planning.tuning import ParameterRange, TuningSpec, check_tuning, parse_range, tuning_request
from smtrain.planning.validation import service_model

METRICS = {"acc": "acc=([0-9.]+)"}


def spec(ranges: tuple[str, ...] = ("C=continuous:0.01:10:log",), *, hps: dict[str, Any] | None = None,
         metrics: dict[str, str] | None = None, **kwargs: Any) -> TuningSpec:
    training = TrainingSpec(entry_point="train.py", source_dir=Path("src"), channels={},
                            hyperparameters=hps or {}, job_name=kwargs.pop("name", "tune-1"),
                            metric_definitions=METRICS if metrics is None else metrics)
    return TuningSpec(training=training, ranges=tuple(parse_range(r) for r in ranges),
                      objective=kwargs.pop("objective", "acc"), **kwargs)


def test_the_kind_names_the_apis_own_operations_and_keys() -> None:
    model = service_model()
    for operation in (TUNING.create, TUNING.describe, TUNING.stop, TUNING.list, *TUNING.extra_actions):
        assert operation in model.operation_names
    describe = model.operation_model(TUNING.describe).output_shape.members
    assert {TUNING.name_key, TUNING.status_key, TUNING.arn_key, TUNING.end_time_key} <= set(describe)
    assert set(TUNING.terminal) <= set(describe[TUNING.status_key].enum)
    assert TUNING.summaries_key in model.operation_model(TUNING.list).output_shape.members
    assert TUNING.log_group == ""  # no container of its own: its trials have the logs
    assert by_create("CreateHyperParameterTuningJob") is TUNING


@pytest.mark.parametrize(("text", "expected"), [
    ("C=continuous:0.01:10:log", ParameterRange("C", "continuous", 0.01, 10.0, "Logarithmic")),
    ("C=continuous:0:0.99:reverse-log", ParameterRange("C", "continuous", 0.0, 0.99, "ReverseLogarithmic")),
    ("C=continuous:0:1", ParameterRange("C", "continuous", 0.0, 1.0, "Auto")),
    ("n=integer:1:20:log", ParameterRange("n", "integer", 1, 20, "Logarithmic")),
    ("n=integer:1:20:linear", ParameterRange("n", "integer", 1, 20, "Linear")),
    ("s=categorical:lbfgs,liblinear", ParameterRange("s", "categorical", values=("lbfgs", "liblinear"))),
])
def test_ranges_parse(text: str, expected: ParameterRange) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("C=continuous:10:1", "LOW (10) must be less than HIGH (1)"),
    ("C=continuous:1:1", "must be less than"),
    ("C=continuous:0:1:log", "logarithmic scaling needs LOW > 0"),
    ("n=integer:-1:5:log", "logarithmic scaling needs LOW > 0"),
    ("C=continuous:0:2:reverse-log", "0 <= LOW and HIGH < 1"),
    ("n=integer:1:5:reverse-log", "unknown scaling"),
    ("n=integer:1.5:5", "not a whole number"),
    ("C=continuous:a:5", "not a number"),
    ("C=uniform:0:1", "malformed range"),
    ("C", "malformed range"),
    ("s=categorical:a,a", "a value twice"),
    ("s=categorical:" + ",".join(f"v{i}" for i in range(31)), "at most 30 values"),
])
def test_bad_ranges_are_refused(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)) as caught:
        parse_range(text)
    assert caught.value.where.startswith("--range")


@pytest.mark.parametrize(("kwargs", "where", "message"), [
    (dict(objective="loss"), "--objective", "objective 'loss' is not among the metric definitions (acc)"),
    (dict(hps={"C": 1}), "--range C", "both searched (--range) and fixed (--hp)"),
    (dict(ranges=("C=continuous:0:1", "C=continuous:0:2")), "--range C", "has two ranges"),
    (dict(ranges=tuple(f"p{i}=integer:0:3" for i in range(31))), "--range", "at most 30 hyperparameters"),
    (dict(max_jobs=751), "--max-jobs", "runs 1 to 750"),
    (dict(max_jobs=10001, strategy="Random"), "--max-jobs", "runs 1 to 10000"),
    (dict(max_parallel=101), "--max-parallel", "1 to 100"),
    (dict(max_parallel=0), "--max-parallel", "1 to 100"),
    (dict(strategy="Grid"), "--range C", "Grid search cannot search the continuous range 'C'"),
    (dict(strategy="Grid", ranges=tuple(f"p{i}=integer:0:9" for i in range(3))), "--range", "1000 combinations"),
    (dict(strategy="Hyperband", early_stopping="Auto"), "--early-stopping", "Hyperband stops trials itself"),
    (dict(name="a-tuning-job-name-longer-than-32-chars"), "--job-name", "tuning job name"),
    (dict(ranges=()), "--range", "nothing to tune"),
    (dict(warm_start=tuple(f"parent-{i}" for i in range(6))), "--warm-start", "a warm start takes at most 5"),
    (dict(metrics={f"m{i}": "x=(1)" for i in range(21)}, objective="m0"), "--metric-definition", "at most 20"),
])
def test_bad_searches_are_refused_before_anything_runs(kwargs: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)) as caught:
        check_tuning(spec(**kwargs))
    assert caught.value.where == where


def training_request() -> dict[str, Any]:
    return {"TrainingJobName": "tune-1", "AlgorithmSpecification": {"TrainingImage": "img"}, "RoleArn": "r",
            "OutputDataConfig": {"S3OutputPath": "s3://b/o/"}, "StoppingCondition": {"MaxRuntimeInSeconds": 60},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "HyperParameters": {"target": '"sex"'}, "Tags": [{"Key": "k", "Value": "v"}]}


def test_grid_without_max_jobs_sends_the_whole_grid_and_every_range_list() -> None:
    request = tuning_request(spec(("n=integer:1:3", "s=categorical:a,b"), strategy="Grid"), training_request())
    config = request["HyperParameterTuningJobConfig"]
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    assert config["ParameterRanges"]["ContinuousParameterRanges"] == []
    assert config["ParameterRanges"]["CategoricalParameterRanges"] == [{"Name": "s", "Values": ['"a"', '"b"']}]


def test_a_trial_is_the_training_request_with_its_tuned_values() -> None:
    request = tuning_request(spec(), training_request())
    body = {"TrainingJobDefinition": request["TrainingJobDefinition"], "_local": {"tags": request["Tags"]}}
    trial = trial_request(body, "tune-1-001-0123abcd", {"C": "0.5"})
    assert trial["HyperParameters"]["C"] == "0.5" and trial["HyperParameters"]["target"] == '"sex"'
    assert trial["ResourceConfig"] == training_request()["ResourceConfig"]
    assert trial["Tags"] == [{"Key": "k", "Value": "v"}]
    assert not {"StaticHyperParameters", "HyperParameterTuningResourceConfig"} & set(trial)


def test_trials_are_named_as_sagemaker_names_them() -> None:
    assert re.fullmatch(r"tune-1-007-[0-9a-f]{8}", trial_name("tune-1", 7))


def test_trials_at_once_never_exceed_the_cores_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMTRAIN_LOCAL_TRIALS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert trials_at_once(10) == 2 and trials_at_once(1) == 1
    monkeypatch.setenv("SMTRAIN_LOCAL_TRIALS", "6")
    assert trials_at_once(10) == 6 and trials_at_once(4) == 4


RANGES = {
    "ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Logarithmic"},
        {"Name": "beta", "MinValue": "0.9", "MaxValue": "0.9999", "ScalingType": "ReverseLogarithmic"},
    ],
    "IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "1000", "ScalingType": "Logarithmic"}],
    "CategoricalParameterRanges": [{"Name": "s", "Values": ['"a"', '"b"']}],
}


def within(values: dict[str, str]) -> None:
    assert 0.0001 <= float(values["lr"]) <= 1 and 0.9 <= float(values["beta"]) <= 0.9999
    assert 1 <= int(values["n"]) <= 1000 and values["s"] in ('"a"', '"b"')


def test_random_search_is_repeatable_with_a_seed_and_follows_the_scaling() -> None:
    first = [RandomSearch(RANGES, seed=7).suggest(i) for i in range(1)]
    again = RandomSearch(RANGES, seed=7)
    assert [again.suggest(0)] == first
    search = RandomSearch(RANGES, seed=1)
    draws = [search.suggest(i) for i in range(400)]
    for values in draws:
        within(values)
    # Logarithmic: about half the draws below the geometric midpoint (0.01), not 1% as a linear draw would be.
    below = sum(float(v["lr"]) < 0.01 for v in draws) / len(draws)
    assert 0.4 < below < 0.6
    # ReverseLogarithmic: dense near 1 -- half the draws above 1 - sqrt(0.1 * 0.0001).
    above = sum(float(v["beta"]) > 1 - math.sqrt(0.1 * 0.0001) for v in draws) / len(draws)
    assert 0.4 < above < 0.6


def test_grid_search_tries_every_combination_once_then_stops() -> None:
    grid = GridSearch({"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "3"}],
                       "CategoricalParameterRanges": [{"Name": "s", "Values": ['"a"', '"b"']}]})
    seen = [grid.suggest(i) for i in range(6)]
    assert seen == [{"n": n, "s": s} for n in ("1", "2", "3") for s in ('"a"', '"b"')]
    assert grid.suggest(6) is None


def test_bayesian_search_stays_in_the_ranges_learns_and_takes_a_warm_start() -> None:
    search = BayesianSearch(RANGES, seed=0, maximize=True, history=[({"lr": "0.01", "beta": "0.99", "n": "10",
                                                                     "s": '"a"'}, 0.5)])
    assert len(search.study.trials) == 1
    for number in range(12):
        values = search.suggest(number)
        within(values)
        search.tell(number, -abs(math.log10(float(values["lr"])) + 2) if number % 4 else None)
    states = [trial.state.name for trial in search.study.trials]
    assert states.count("FAIL") == 3 and states.count("COMPLETE") == 10


def test_early_stopping_is_the_median_of_earlier_running_averages() -> None:
    from smtrain.backends.local.tuning.early_stopping import falls_behind

    earlier = [[0.5, 0.7, 0.9], [0.6, 0.8], [0.4, 0.6, 0.8], [0.1]]
    # step 2: running averages 0.6, 0.7, 0.5 (the one-value trial did not reach it) -> median 0.6
    assert falls_behind([0.2, 0.55], earlier, maximize=True)
    assert not falls_behind([0.2, 0.65], earlier, maximize=True)
    assert falls_behind([0.2, 0.65], earlier, maximize=False)
    assert not falls_behind([0.2, 0.55, 0.1], earlier, maximize=True)  # only 2 earlier trials reached step 3
    assert not falls_behind([], earlier, maximize=True)


def test_hyperband_stops_a_trial_whose_intermediate_values_fall_behind_in_its_bracket() -> None:
    from smtrain.backends.local.tuning.search import HyperbandSearch

    search = HyperbandSearch({"CategoricalParameterRanges": [{"Name": "level", "Values": ["5", "6", "7", "1"]}]},
                             seed=2, maximize=True, min_resource=1, max_resource=6)
    stopped_at: dict[int, int | None] = {}
    for number in range(8):
        level = int(search.suggest(number)["level"])
        values: list[float] = []
        stopped_at[number] = None
        for epoch in range(6):
            values.append(level + epoch / 100)
            if search.report(number, values):
                stopped_at[number] = epoch + 1
                break
        assert not search.report(number, values)  # nothing new since the last report: no new judgement
        search.tell(number, None if stopped_at[number] else values[-1], stopped_early=bool(stopped_at[number]))
    states = [trial.state.name for trial in search.study.trials]
    assert states.count("PRUNED") == sum(1 for at in stopped_at.values() if at) >= 1
    pruned_levels = [trial.params["level"] for trial in search.study.trials if trial.state.name == "PRUNED"]
    assert "7" not in pruned_levels  # the best level is never behind the others of its bracket


def test_hyperband_resources_are_read_or_inferred_as_sagemaker_infers_them() -> None:
    from smtrain.backends.local.tuning.search import hyperband_resources

    config = {"StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 2, "MaxResource": 30}}}
    assert hyperband_resources(config, {"epochs": "5"}) == (2, 30)
    assert hyperband_resources({}, {"num_epochs": '"12"'}) == (1, 12)
    assert hyperband_resources({}, {"lr": "0.1"}) == (1, "auto")


def test_the_warm_start_limit_is_the_apis_own() -> None:
    from smtrain.planning.tuning import MAX_PARENTS

    assert service_model().shape_for("ParentHyperParameterTuningJobs").metadata["max"] == MAX_PARENTS
