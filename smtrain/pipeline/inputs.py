"""The first states: refuse bad execution input, then merge it over the exported defaults.

JSONPath cannot list an object's keys nor encode a value as JSON, so the check and the
hyperparameter encoding are JSONata states; Step Functions lets a state of a JSONPath
state machine set ``"QueryLanguage": "JSONata"`` (fields ``Output``, ``Condition``, and
JSONata ``Error``/``Cause`` on a Fail state):
https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html
"""

from __future__ import annotations

import json
from typing import Any

from . import requests
from .spec import PipelineSpec

JSONATA = "JSONata"
TYPES = {str: ("'string'", "a string"), float: ("'number'", "a number")}


def input_states(spec: PipelineSpec, defaults: dict[str, Any], sdk: dict[str, Any]) -> dict[str, Any]:
    """Check input -> Input valid -> Apply defaults -> Encode hyperparameters -> Resolve settings."""
    return {
        "Check input": {"Type": "Pass", "QueryLanguage": JSONATA, "Next": "Input valid",
                        "Output": {"problems": f"{{% {problems(defaults)} %}}", "input": "{% $states.input %}"}},
        "Input valid": {"Type": "Choice", "QueryLanguage": JSONATA, "Choices": [
            {"Condition": "{% $count($states.input.problems) > 0 %}", "Next": "Invalid input"}],
            "Default": "Apply defaults"},
        "Invalid input": {"Type": "Fail", "QueryLanguage": JSONATA, "Error": "InvalidInput",
                          "Cause": "{% $join($states.input.problems, '; ') %}"},
        "Apply defaults": {"Type": "Pass", "Next": "Encode hyperparameters",
                           "Parameters": {"defaults": defaults, "input.$": "$.input"}},
        "Encode hyperparameters": {"Type": "Pass", "QueryLanguage": JSONATA, "Next": "Resolve settings",
                                   "Output": {"defaults": "{% $states.input.defaults %}",
                                              "input": f"{{% {encoded_input('$states.input.input')} %}}"}},
        "Resolve settings": {"Type": "Pass", "Next": "Train", "Parameters": {
            "args.$": "States.JsonMerge($.defaults, $.input, false)",
            "channels.$": "States.JsonMerge($.defaults.channels, $.input.channels, false)",
            "hyperparameters.$": "States.JsonMerge($.defaults.hyperparameters, $.input.hyperparameters, false)",
            "sdk": sdk,
            "names": {"model.$": requests.resource_name(spec, "model"),
                      "config.$": requests.resource_name(spec, "config")},
            "created": {},  # what this execution made, each recorded once its create call succeeded
        }},
    }


def encoded_input(path: str) -> str:
    """The input with ``channels`` and ``hyperparameters`` always present, each hyperparameter JSON-encoded.

    As `smtrain fit` (and the SageMaker SDK) sends them: ``json.dumps`` of each value, so ``31`` becomes
    ``"31"`` and ``"gini"`` becomes ``"\\"gini\\""``. A value inside an object constructor is not flattened,
    so ``$string({'v': value})`` minus its ``{"v":`` and ``}`` is the value's JSON.
    """
    encode = "$substring($string({'v': $v}), 5, $length($string({'v': $v})) - 6)"
    return (f"$merge([{path}, {{'channels': $merge([{{}}, {path}.channels]), "
            f"'hyperparameters': $merge([{{}}, $each({path}.hyperparameters, function($v, $k) "
            f"{{{{$k: {encode}}}}})])}}])")


def quoted(text: str) -> str:
    """``text`` as a JSONata string literal."""
    return json.dumps(text)


def name_list(names: list[str]) -> str:
    return "[" + ", ".join(quoted(n) for n in names) + "]"


def field(path: str, key: str) -> str:
    return f"{path}.`{key}`"


def unknown_keys(path: str, accepted: list[str], where: str) -> str:
    """A problem naming the keys of ``path`` that are not ``accepted`` (as the local runner's check words it)."""
    hint = quoted(f" in {where}; accepted: {', '.join(accepted) or 'none'}")
    return (f"($u := $keys({path})[$not($ in {name_list(accepted)})]; $count($u) > 0 ? "
            f"'unknown key' & ($count($u) > 1 ? 's ' : ' ') & $join($u.(\"'\" & $ & \"'\"), ', ') & {hint})")


def wrong_type(path: str, label: str, expected: Any) -> str:
    if isinstance(expected, dict):
        test, name = f"$type({path}) != 'object'", "a JSON object"
    elif isinstance(expected, bool):
        test, name = f"$type({path}) != 'boolean'", "true or false"
    elif isinstance(expected, int):
        test, name = f"($type({path}) = 'number' ? $floor({path}) != {path} : true)", "a whole number"
    else:
        json_type, name = TYPES[type(expected)]
        test = f"$type({path}) != {json_type}"
    return f"$exists({path}) and {test} ? {quoted(f'{label} must be {name}')}"


def problems(defaults: dict[str, Any]) -> str:
    """A JSONata array of what is wrong with the execution input: unknown keys, wrong types."""
    found = [unknown_keys("$states.input", list(defaults), "input")]
    for key, expected in defaults.items():
        path = field("$states.input", key)
        found.append(wrong_type(path, key, expected))
        if key == "channels":
            found.append(f"$type({path}) = 'object' ? {unknown_keys(path, list(expected), 'channels')}")
            found += [wrong_type(field(path, name), f"channels.{name}", "") for name in expected]
        if key == "hyperparameters":
            reserved = f"$keys({path})[$substring($, 0, 10) = 'sagemaker_']"
            found.append(f"$type({path}) = 'object' and $count({reserved}) > 0 ? "
                         f"'hyperparameters.' & $join({reserved}, ', ') & ' is set by the pipeline'")
    return "(" + "[" + ", ".join(found) + "]" + ")"
