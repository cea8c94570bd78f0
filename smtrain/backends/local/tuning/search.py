"""How the local tuner picks each trial's values: Random, Grid and Bayesian (optuna's TPE) search.

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


class BayesianSearch:
    """optuna's TPE sampler with ask-and-tell: a trial asked per suggestion, told its objective
    (or failed) when the training job ends. Reverse-logarithmic ranges are searched as
    ``1 - x`` on a log scale."""

    def __init__(self, parameter_ranges: Ranges, *, seed: int | None, maximize: bool,
                 history: list[tuple[dict[str, str], float]] | None = None) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.ranges = ranges_of(parameter_ranges)
        self.distributions = {item["Name"]: self._distribution(kind, item) for kind, item in self.ranges}
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, len(self.ranges) + 1)))
        self.study = optuna.create_study(direction="maximize" if maximize else "minimize", sampler=sampler)
        self._asked: dict[int, Any] = {}
        for values, value in history or []:  # a warm start: the parents' completed trials
            params = {name: self._internal(name, text) for name, text in values.items()
                      if name in self.distributions}
            if len(params) == len(self.distributions):
                self.study.add_trial(optuna.trial.create_trial(params=params, distributions=self.distributions,
                                                               value=value))

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

    def tell(self, number: int, value: float | None) -> None:
        trial = self._asked.pop(number, None)
        if trial is None:
            return
        if value is None or not math.isfinite(value):
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)


def search_for(config: Mapping[str, Any], history: list[tuple[dict[str, str], float]] | None = None) -> Any:
    """The search of a HyperParameterTuningJobConfig. Hyperband's sampling is random search's; the tuner
    stops its trials early by the median rule of ``early_stopping.py`` (locally Hyperband has no brackets)."""
    ranges = config.get("ParameterRanges") or {}
    seed = config.get("RandomSeed")
    strategy = config["Strategy"]
    if strategy == "Grid":
        return GridSearch(ranges)
    if strategy == "Bayesian":
        maximize = config["HyperParameterTuningJobObjective"]["Type"] == "Maximize"
        return BayesianSearch(ranges, seed=seed, maximize=maximize, history=history)
    return RandomSearch(ranges, seed=seed)
