"""How long the local pipeline runner takes to refuse or stop each unbounded case of issue 20 (B9), on the
real clock: `python bench/pipeline_bounds.py`. Before the fix these ran 61 s, hung, or grew without end."""

from __future__ import annotations

import json
import time
import tracemalloc
from typing import Any

from botocore.exceptions import ClientError

from smtrain.pipeline.paths import StatesError, select
from smtrain.pipeline.runner import Runner

SDK = "arn:aws:states:::aws-sdk:sagemaker:"


class Throttled:
    def describe_model_package_group(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Describe")


def jsonata(expression: str) -> dict[str, Any]:
    return {"StartAt": "X", "States": {"X": {"Type": "Pass", "QueryLanguage": "JSONata",
                                             "Output": f"{{% {expression} %}}", "Next": "Done"},
                                       "Done": {"Type": "Succeed"}}}


CASES: dict[str, tuple[dict[str, Any], Any]] = {
    "3 s TimeoutSeconds, 60 retries 1 s apart": ({
        "StartAt": "P", "TimeoutSeconds": 3, "States": {
            "P": {"Type": "Task", "Resource": SDK + "describeModelPackageGroup", "Parameters": {"ModelPackageGroupName":
                  "g"}, "Next": "D", "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1,
                                                "MaxAttempts": 60, "BackoffRate": 1.0}]},
            "D": {"Type": "Succeed"}}}, Throttled()),
    "recursive JSONata function": (jsonata("($f := function($x){$f($x) + 1}; $f(1))"), None),
    "tail-recursive JSONata function": (jsonata("($f := function($x){$f($x)}; $f(1))"), None),
    "[1..10000000]": (jsonata("[1..10000000]"), None),
    "Pass <-> Pass cycle": ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
                                                        "B": {"Type": "Pass", "Next": "A"}}}, None),
}


def main() -> None:
    rows = []
    for label, (definition, client) in CASES.items():
        tracemalloc.start()
        started = time.perf_counter()
        execution = Runner(definition, client).run({}, name="bench")
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        rows.append({"case": label, "seconds": round(seconds, 3), "peak_MiB": round(peak, 1),
                     "status": execution.status, "error": execution.error, "cause": execution.cause[:90]})
    started = time.perf_counter()
    try:
        select("$.items[?(@.name =~ /^(a+)+$/)]", {"items": [{"name": "a" * 40 + "!"}]}, {})
    except StatesError as exc:
        rows.append({"case": "jsonpath-ng regex filter", "seconds": round(time.perf_counter() - started, 4),
                     "status": "refused", "error": exc.error, "cause": exc.cause[:90]})
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
