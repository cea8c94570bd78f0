"""Estimated cost of a run: billable seconds x instances x an hourly price kept as data (prices.py)."""

from __future__ import annotations

from dataclasses import dataclass

from smtrain.runs.prices import PRICES_USD_PER_HOUR
from smtrain.runs.record import Run


@dataclass(frozen=True)
class Estimate:
    usd: float | None
    note: str

    def __str__(self) -> str:
        if self.usd is None:
            return self.note
        return "$0 (" + self.note + ")" if self.usd == 0 else f"~${self.usd:.4f} (estimate: {self.note})"


def estimate(run: Run) -> Estimate:
    if run.backend == "local":
        return Estimate(0.0, "local run, no SageMaker charge")
    price = PRICES_USD_PER_HOUR.get(run.instance_type)
    if price is None:
        return Estimate(None, f"no price on record for {run.instance_type or 'this instance type'}")
    if run.billable_seconds is None:
        return Estimate(None, "not billed yet")
    usd = run.billable_seconds / 3600 * price * run.instance_count
    return Estimate(usd, f"{run.billable_seconds} billable s x {run.instance_count} x {run.instance_type} at "
                         f"${price}/h on demand in us-east-1; spot and other regions differ")
