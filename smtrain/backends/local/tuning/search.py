"""How the local tuner picks each trial's values: Random, Grid, Bayesian (optuna's TPE) and Hyperband
(random values, optuna's HyperbandPruner deciding which trials stop) search.

Values are sent as SageMaker sends a trial's tuned hyperparameters: the number as text for
continuous and integer ranges, the range's own (JSON-encoded) value for a categorical one.
Scaling follows the ranges' ScalingType (AWS docs, "Define Hyperparameter Ranges"):
Logarithmic samples log(x) uniformly, ReverseLogarithmic samples log(1 - x) uniformly,
Linear and Auto (SageMaker's choice; locally, linear) sample x uniformly.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping
from typing import Any

Ranges = Mapping[str, list[dict[str, Any]]]  # ParameterRanges as the request gives them


def ranges_of(parameter_ranges: Ranges) -> list[tuple[str, dict[str, Any]]]:
    """(type, range) pairs in the request's order: continuous, integer, categorical."""
    order = (("continuous", "ContinuousParameterRanges"), ("integer", "IntegerParameterRanges"),
             ("categorical", "CategoricalParameterRanges"))
    return [(kind, item) for kind, key in order for item in parameter_ranges.get(key) or []]


def sample(kind: str, item: Mapping[str, Any], rng: random.Random) -> str:
    """One value of one range, drawn at random under its scaling."""
    if kind == "categorical":
        return str(rng.choice(list(item["Values"])))
    low, high, scaling = float(item["MinValue"]), float(item["MaxValue"]), item.get("ScalingType", "Auto")
    if scaling == "Logarithmic":
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    elif scaling == "ReverseLogarithmic":
        value = 1.0 - math.exp(rng.uniform(math.log(1.0 - high), math.log(1.0 - low)))
    else:
        value = rng.uniform(low, high)
    if kind == "integer":
        return str(min(int(high), max(int(low), round(value))))
    return repr(min(high, max(low, value)))


class RandomSearch:
    """Each trial's values drawn independently (AWS: "random search ... chooses a random combination")."""

    def __init__(self, parameter_ranges: Ranges, *, seed: int | None) -> None:
        self.ranges = ranges_of(parameter_ranges)
        self.rng = random.Random(seed)

    def suggest(self, number: int) -> dict[str, str]:
        return {item["Name"]: sample(kind, item, self.rng) for kind, item in self.ranges}

    def tell(self, number: int, value: float | None) -> None:
        """Random search learns nothing from results."""


class GridSearch:
    """Every combination, in order, each once (AWS: "grid search ... each unique combination")."""

    def __init__(self, parameter_ranges: Ranges) -> None:
        axes = []
        for kind, item in ranges_of(parameter_ranges):
            values = ([str(v) for v in range(int(item["MinValue"]), int(item["MaxValue"]) + 1)]
                      if kind == "integer" else [str(v) for v in item["Values"]])
            axes.append((item["Name"], values))
        self.names = [name for name, _ in axes]
        self._combinations: Iterator[tuple[str, ...]] = itertools.product(*(values for _, values in axes))

    def suggest(self, number: int) -> dict[str, str] | None:
        combination = next(self._combinations, None)
        return None if combination is None else dict(zip(self.names, combination, strict=True))

    def tell(self, number: int, value: float | None) -> None:
        """Grid search learns nothing from results."""


class OptunaSearch:
    """An optuna study with ask-and-tell: a trial asked per suggestion, told its objective (or failed,
    or stopped early) when the training job ends. Reverse-logarithmic ranges are searched as ``1 - x``
    on a log scale. Subclasses choose the sampler and the pruner."""

    def __init__(self, parameter_ranges: Ranges, *, seed: int | None, maximize: bool,
                 history: list[tuple[dict[str, str], float]] | None = None) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.ranges = ranges_of(parameter_ranges)
        self.distributions = {item["Name"]: self._distribution(kind, item) for kind, item in self.ranges}
        # A fixed study name: Hyperband assigns trials to brackets by a hash of it, so a RandomSeed repeats a run.
        self.study = optuna.create_study(study_name="smtrain-tuning", direction="maximize" if maximize else "minimize",
                                         sampler=self._sampler(seed), pruner=self._pruner())
        self._asked: dict[int, Any] = {}
        self._reported: dict[int, int] = {}
        for values, value in history or []:  # a warm start: the parents' completed trials
            params = {name: self._internal(name, text) for name, text in values.items()
                      if name in self.distributions}
            if len(params) == len(self.distributions):
                self.study.add_trial(optuna.trial.create_trial(params=params, distributions=self.distributions,
                                                               value=value))

    def _sampler(self, seed: int | None) -> Any:
        raise NotImplementedError

    def _pruner(self) -> Any:
        return self.optuna.pruners.NopPruner()

    def _distribution(self, kind: str, item: Mapping[str, Any]) -> Any:
        distributions = self.optuna.distributions
        if kind == "categorical":
            return distributions.CategoricalDistribution(list(item["Values"]))
        low, high, scaling = float(item["MinValue"]), float(item["MaxValue"]), item.get("ScalingType", "Auto")
        if kind == "integer":
            return distributions.IntDistribution(int(low), int(high), log=scaling == "Logarithmic")
        if scaling == "ReverseLogarithmic":
            return distributions.FloatDistribution(1.0 - high, 1.0 - low, log=True)
        return distributions.FloatDistribution(low, high, log=scaling == "Logarithmic")

    def _reverse(self, name: str) -> bool:
        return any(item["Name"] == name and item.get("ScalingType") == "ReverseLogarithmic" and kind == "continuous"
                   for kind, item in self.ranges)

    def _internal(self, name: str, text: str) -> Any:
        distribution = self.distributions[name]
        if isinstance(distribution, self.optuna.distributions.CategoricalDistribution):
            return text
        if isinstance(distribution, self.optuna.distributions.IntDistribution):
            return int(float(text))
        return 1.0 - float(text) if self._reverse(name) else float(text)

    def suggest(self, number: int) -> dict[str, str]:
        trial = self.study.ask(self.distributions)
        self._asked[number] = trial
        values = {}
        for name, value in trial.params.items():
            if isinstance(value, float) and self._reverse(name):
                value = 1.0 - value
            values[name] = repr(value) if isinstance(value, float) else str(value)
        return values

    def report(self, number: int, values: list[float]) -> bool:
        """Give the pruner the trial's objective values printed since the last report (step n is the
        n-th value); whether the trial should stop now."""
        trial = self._asked.get(number)
        if trial is None:
            return False
        done = self._reported.get(number, 0)
        for step, value in enumerate(values[done:], start=done + 1):
            if math.isfinite(value):
                trial.report(value, step)
        self._reported[number] = max(done, len(values))
        return len(values) > done and bool(trial.should_prune())

    def tell(self, number: int, value: float | None, *, stopped_early: bool = False) -> None:
        trial = self._asked.pop(number, None)
        self._reported.pop(number, None)
        if trial is None:
            return
        if stopped_early:
            self.study.tell(trial, state=self.optuna.trial.TrialState.PRUNED)
        elif value is None or not math.isfinite(value):
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)


class BayesianSearch(OptunaSearch):
    """optuna's TPE sampler; its first trials (up to 10) are random, as TPE needs some history."""

    def _sampler(self, seed: int | None) -> Any:
        return self.optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, len(self.ranges) + 1)))


class HyperbandSearch(OptunaSearch):
    """SageMaker's Hyperband (AWS docs, "How Hyperparameter Tuning Works": "Hyperband uses both
    intermediate and final results of training jobs to dynamically allocate epochs to well-utilized
    hyperparameter configurations and automatically stops those that underperform"): values drawn at
    random, and optuna's HyperbandPruner (successive halving in brackets, reduction factor 3) judging
    each trial's intermediate objective values as they are printed. Its resources are the steps of the
    objective: ``HyperbandStrategyConfig`` MinResource and MaxResource when given, otherwise MaxResource
    is inferred as SageMaker infers it, from an ``epochs`` static hyperparameter (API reference,
    HyperbandStrategyConfig), and else from the first trial to complete (optuna's "auto")."""

    def __init__(self, parameter_ranges: Ranges, *, seed: int | None, maximize: bool,
                 min_resource: int, max_resource: int | str) -> None:
        self.resources = (min_resource, max_resource)
        super().__init__(parameter_ranges, seed=seed, maximize=maximize)

    def _sampler(self, seed: int | None) -> Any:
        return self.optuna.samplers.RandomSampler(seed=seed)

    def _pruner(self) -> Any:
        min_resource, max_resource = self.resources
        return self.optuna.pruners.HyperbandPruner(min_resource=min_resource, max_resource=max_resource,
                                                   reduction_factor=3)


EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")  # API_HyperbandStrategyConfig


def hyperband_resources(config: Mapping[str, Any], static: Mapping[str, str]) -> tuple[int, int | str]:
    """(MinResource, MaxResource) of a Hyperband tuning job, as SageMaker reads or infers them."""
    given = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
    max_resource: int | str = "auto"
    if given.get("MaxResource"):
        max_resource = int(given["MaxResource"])
    else:
        for key in EPOCH_KEYS:
            text = str(static.get(key, "")).strip('"')
            if text.isdigit() and int(text) > 0:
                max_resource = int(text)
                break
    return int(given.get("MinResource") or 1), max_resource


def search_for(config: Mapping[str, Any], history: list[tuple[dict[str, str], float]] | None = None,
               static: Mapping[str, str] | None = None) -> Any:
    """The search of a HyperParameterTuningJobConfig (``static``: the trials' static hyperparameters).
    A search with a ``report`` method decides itself which trials stop early (Hyperband)."""
    ranges = config.get("ParameterRanges") or {}
    seed = config.get("RandomSeed")
    strategy = config["Strategy"]
    maximize = (config.get("HyperParameterTuningJobObjective") or {}).get("Type") == "Maximize"
    if strategy == "Grid":
        return GridSearch(ranges)
    if strategy == "Bayesian":
        return BayesianSearch(ranges, seed=seed, maximize=maximize, history=history)
    if strategy == "Hyperband":
        min_resource, max_resource = hyperband_resources(config, static or {})
        return HyperbandSearch(ranges, seed=seed, maximize=maximize, min_resource=min_resource,
                               max_resource=max_resource)
    return RandomSearch(ranges, seed=seed)
