"""JSONPath (through jsonpath-ng) and the intrinsic functions the exporter emits."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

# Paths as Step Functions reads them (a subset of JsonPath: names, quoted names, indexes, wildcards and
# comparison filters: https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-paths.html).
# Anything else, jsonpath-ng's extensions included (regex filters, arithmetic, sorted, len), is refused
# before it reaches the parser: a regex filter there can take exponential time.
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
QUOTED = r"'(?:[^'\\]|\\.)*'"
LITERAL = rf"(?:{QUOTED}|-?\d+(?:\.\d+)?|true|false|null)"
FILTER = rf"\[\?\(@(?:\.{NAME}|\[{QUOTED}\])+\s*(?:==|!=|<=|>=|<|>)\s*{LITERAL}\)\]"
REFERENCE_SEGMENT = rf"(?:\.{NAME}|\[{QUOTED}\]|\[\d+\])"
PATH = re.compile(rf"\$\$?(?:{REFERENCE_SEGMENT}|\[\*\]|\.\*|{FILTER})*")
REFERENCE_PATH = re.compile(rf"\$(?:{REFERENCE_SEGMENT})*")
MAX_PATH = 1000


class StatesError(Exception):
    """An error inside an execution, named as Step Functions names it (``States.Runtime``, ``SageMaker.X``)."""

    def __init__(self, error: str, cause: str) -> None:
        self.error = error
        self.cause = cause
        super().__init__(f"{error}: {cause}")


def path_problem(path: Any, *, reference: bool = False) -> str:
    """What Step Functions would refuse in ``path`` ("" when it is a path it accepts)."""
    if not isinstance(path, str):
        return f"{path!r} is not a string"
    if len(path) > MAX_PATH:
        return f"a path of {len(path)} characters (at most {MAX_PATH})"
    if not (REFERENCE_PATH if reference else PATH).fullmatch(path):
        kind = "a reference path (names and indexes only)" if reference else "a JSONPath Step Functions accepts"
        return f"{path[:80]!r} is not {kind}"
    try:
        parse_path("$" + path[2:] if path.startswith("$$") else path)
    except Exception as exc:  # jsonpath-ng's own parse errors (a key named like one of its keywords: `where`)
        return f"{path[:80]!r} cannot be read: {exc}"
    return ""


@lru_cache(maxsize=512)
def parse_path(path: str) -> Any:
    from jsonpath_ng.ext import parse

    return parse(path)


def parsed(path: str, reference: bool = False) -> Any:
    problem = path_problem(path, reference=reference)
    if problem:
        raise StatesError("States.Runtime", problem)
    return parse_path(path)


def select(path: str, data: Any, context: dict[str, Any]) -> Any:
    """The value at ``path`` (``$...`` in ``data``, ``$$...`` in the context); a filter gives a list."""
    problem = path_problem(path)
    if problem:
        raise StatesError("States.Runtime", problem)
    document, expression = (context, "$" + path[2:]) if path.startswith("$$") else (data, path)
    matches = [match.value for match in parsed(expression).find(document)]
    if "[?" in expression or "*" in expression:
        return matches
    if not matches:
        raise StatesError("States.Runtime", f"the JSONPath {path!r} matched nothing")
    return matches[0]


def put(data: Any, path: str | None, value: Any) -> Any:
    """Apply a ResultPath: ``None`` keeps the input, ``$`` replaces it, ``$.a.b`` sets it (creating objects)."""
    if path is None:
        return data
    if path == "$":
        return value
    target = copy.deepcopy(data)
    parsed(path, reference=True).update_or_create(target, value)
    return target


def render(template: Any, data: Any, context: dict[str, Any]) -> Any:
    """Parameters/ResultSelector: keys ending ``.$`` take the value of their path or intrinsic."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = evaluate(value, data, context)
            else:
                out[key] = render(value, data, context)
        return out
    if isinstance(template, list):
        return [render(v, data, context) for v in template]
    return template


def evaluate(expression: str, data: Any, context: dict[str, Any]) -> Any:
    if expression.startswith("States."):
        tokens = tokenize(expression)
        value = call(tokens, data, context)
        if tokens:
            raise StatesError("States.Runtime", f"unexpected text after {expression!r}")
        return value
    if expression.startswith("$"):
        return select(expression, data, context)
    raise StatesError("States.Runtime", f"{expression!r} is neither a JSONPath nor an intrinsic function")


TOKEN = re.compile(r"\s*(?:(?P<string>'(?:\\.|[^'\\])*')|(?P<func>States\.[A-Za-z]+)\(|(?P<punct>[,)])"
                   r"|(?P<number>-?\d+(?:\.\d+)?)|(?P<word>true|false|null)|(?P<path>\$(?:[^,()\s\[]|\[[^\]]*\])*))")


def tokenize(expression: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(expression.rstrip()):
        match = TOKEN.match(expression, position)
        if not match:
            raise StatesError("States.Runtime", f"cannot read {expression[position:]!r} in {expression!r}")
        kind = str(match.lastgroup)
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def call(tokens: list[tuple[str, str]], data: Any, context: dict[str, Any]) -> Any:
    kind, name = tokens.pop(0)
    if kind != "func" or name not in FUNCTIONS:
        raise StatesError("States.Runtime", f"intrinsic {name!r} is not supported (supported: {', '.join(FUNCTIONS)})")
    args: list[Any] = []
    while tokens and tokens[0] != ("punct", ")"):
        args.append(argument(tokens, data, context))
        if tokens and tokens[0] == ("punct", ","):
            tokens.pop(0)
    if not tokens:
        raise StatesError("States.Runtime", f"{name} has no closing parenthesis")
    tokens.pop(0)
    return FUNCTIONS[name](*args)


def argument(tokens: list[tuple[str, str]], data: Any, context: dict[str, Any]) -> Any:
    kind, text = tokens[0]
    if kind == "func":
        return call(tokens, data, context)
    tokens.pop(0)
    if kind == "string":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if kind in ("number", "word"):
        return json.loads(text)
    if kind == "path":
        return select(text, data, context)
    raise StatesError("States.Runtime", f"unexpected {text!r} in an intrinsic function")


def format_string(template: str, *values: Any) -> str:
    pieces = re.split(r"(?<!\\)\{\}", template)
    if len(pieces) - 1 != len(values):
        raise StatesError("States.Runtime", f"States.Format: {len(pieces) - 1} placeholders, {len(values)} values")
    text = pieces[0]
    for value, piece in zip(values, pieces[1:], strict=True):
        text += (value if isinstance(value, str) else json.dumps(value)) + piece
    return text


def json_merge(left: Any, right: Any, deep: bool) -> dict[str, Any]:
    if deep:
        raise StatesError("States.Runtime", "States.JsonMerge: only a shallow merge (false) is supported")
    if not isinstance(left, dict) or not isinstance(right, dict):
        raise StatesError("States.Runtime", "States.JsonMerge needs two objects")
    return {**left, **right}


def array_get_item(array: Any, index: int) -> Any:
    if not isinstance(array, list) or not 0 <= index < len(array):
        raise StatesError("States.Runtime", f"States.ArrayGetItem: no item {index} in {array!r}")
    return array[index]


def string_to_json(text: Any) -> Any:
    if not isinstance(text, str):
        raise StatesError("States.Runtime", "States.StringToJson needs a string")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StatesError("States.Runtime", f"States.StringToJson: not JSON: {exc}") from exc


def math_add(left: Any, right: Any) -> int:
    if not all(isinstance(v, int | float) for v in (left, right)):
        raise StatesError("States.Runtime", "States.MathAdd needs two numbers")
    return int(left) + int(right)


def string_split(text: Any, separators: Any) -> list[str]:
    if not isinstance(text, str) or not isinstance(separators, str):
        raise StatesError("States.Runtime", "States.StringSplit needs two strings")
    return [part for part in re.split("|".join(re.escape(c) for c in separators), text) if part]


def new_uuid() -> str:
    import uuid

    return str(uuid.uuid4())


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "States.Format": format_string,
    "States.JsonMerge": json_merge,
    "States.ArrayGetItem": array_get_item,
    "States.MathAdd": math_add,
    "States.StringSplit": string_split,
    "States.StringToJson": string_to_json,
    "States.UUID": new_uuid,
}
