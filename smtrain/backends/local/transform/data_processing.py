"""``DataProcessing`` as AWS documents it: InputFilter, JoinSource and OutputFilter on each record.

Source: "Associate Prediction Results with Input Records"
(https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html) and
API_DataProcessing (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataProcessing.html):

- the filters are JSONPath on the record; a CSV record (RFC 4180, no embedded newlines) is a JSON
  array of its cells, so only index paths apply to it (``$[0]``, ``$[1:]``, ``$[1,3,5]``, ``$[0,5:]``);
- a slice includes both its ends: "``$[1:4]`` specifies the second through fifth columns", and
  ``[:5]`` "the first column (index 0) through the sixth column";
- JoinSource Input: a CSV output row is appended to its input row; a JSON output goes under
  ``SageMakerOutput`` of the input object, or, when the input is not an object, the two go under
  ``SageMakerInput`` and ``SageMakerOutput`` of a new one;
- data processing works on ``text/csv``, ``application/json`` and ``application/jsonlines`` only.

SDK v2's local mode ignores DataProcessing altogether (sagemaker-python-sdk #4757).
Paths are evaluated with jsonpath-ng, as the pipeline runner's are (:mod:`smtrain.pipeline.paths`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
FORMATS = (CSV, JSON, JSONLINES)
MAX_FILTER = 63  # API_DataProcessing: InputFilter and OutputFilter are 0-63 characters
BRACKETS = re.compile(r"^(?P<head>.*)\[(?P<items>[-\d:\s,]+)\]$")
SLICE = re.compile(r"^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*$")


class DataProcessingError(Exception):
    """A record the filters cannot be applied to, or an expression that is not a supported JSONPath."""


@dataclass(frozen=True)
class DataProcessing:
    input_filter: str = "$"
    output_filter: str = "$"
    join_input: bool = False

    @classmethod
    def from_request(cls, request: Mapping[str, Any] | None) -> DataProcessing:
        request = request or {}
        processing = cls(input_filter=request.get("InputFilter") or "$",
                         output_filter=request.get("OutputFilter") or "$",
                         join_input=request.get("JoinSource", "None") == "Input")
        for expression in (processing.input_filter, processing.output_filter):
            check_expression(expression)
        return processing

    @property
    def active(self) -> bool:
        return self.input_filter != "$" or self.output_filter != "$" or self.join_input


def check_expression(expression: str) -> None:
    if not expression.startswith("$"):
        raise DataProcessingError(f"{expression!r} is not a JSONPath: it must start with $")
    for part in _parts(expression):
        _parsed(part)


def media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


# -- one record as a JSON value, and back ------------------------------------------------------
def parse_record(record: bytes, content_type: str) -> Any:
    text = record.decode("utf-8").strip("\r\n")
    if media_type(content_type) == CSV:
        rows = list(csv.reader(io.StringIO(text)))
        if len(rows) != 1:
            raise DataProcessingError(f"a CSV record must be one line, got {len(rows)}")
        return rows[0]
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DataProcessingError(f"not JSON: {exc}") from None


def format_record(value: Any, content_type: str) -> bytes:
    """A record as it is sent or written, without its line ending."""
    if media_type(content_type) == CSV:
        cells = value if isinstance(value, list) else [value]
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow([_cell(cell) for cell in cells])
        return out.getvalue().encode()
    return json.dumps(value, separators=(",", ":")).encode()


def _cell(value: Any) -> Any:
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) else value


# -- JSONPath -----------------------------------------------------------------------------
def select(value: Any, expression: str) -> Any:
    """``expression`` applied to a record: one value for a path to one element, else the selection
    (an array of the matched elements, or an object of the named fields)."""
    if expression == "$":
        return value
    parts = _parts(expression)
    found: list[Any] = []
    for part in parts:
        matches = _parsed(part).find(value)
        found += [match.value for match in matches]
    if len(parts) == 1 and _single(parts[0]):
        if not found:
            raise DataProcessingError(f"{expression} selects nothing in the record")
        return found[0]
    fields = _field_names(parts[0]) if len(parts) == 1 else ()
    if len(fields) > 1 and isinstance(value, dict):
        return {name: value[name] for name in fields if name in value}
    return found


def _parts(expression: str) -> tuple[str, ...]:
    """``$[0,5:]`` (a list of indexes and slices, which jsonpath-ng reads one at a time) as ``$[0]``, ``$[5:]``;
    each slice made end-inclusive, as AWS documents it."""
    match = BRACKETS.match(expression)
    if not match or (":" not in match["items"] and "," not in match["items"]):
        return (expression,)
    parts = []
    for item in match["items"].split(","):
        piece = SLICE.match(item)
        if piece:
            start, end = piece.group(1), piece.group(2)
            end = "" if end is None or int(end) == -1 else str(int(end) + 1)
            parts.append(f"{match['head']}[{start or ''}:{end}]")
        else:
            parts.append(f"{match['head']}[{item.strip()}]")
    return tuple(parts)


def _single(part: str) -> bool:
    """A path to one element: no slice, wildcard or list of names."""
    from jsonpath_ng.jsonpath import Fields, Slice, Wildcard

    node = _parsed(part)
    right = getattr(node, "right", node)
    if isinstance(right, (Slice, Wildcard)):
        return False
    return not (isinstance(right, Fields) and len(right.fields) > 1)


def _field_names(part: str) -> tuple[str, ...]:
    from jsonpath_ng.jsonpath import Fields

    right = getattr(_parsed(part), "right", None)
    return tuple(right.fields) if isinstance(right, Fields) else ()


@lru_cache(maxsize=64)
def _parsed(part: str) -> Any:
    from jsonpath_ng import parse

    try:
        return parse(part)
    except Exception as exc:  # jsonpath-ng raises its own lexer and parser errors
        raise DataProcessingError(f"{part!r} is not a JSONPath SageMaker supports: {exc}") from None


# -- the three steps ----------------------------------------------------------------------
def filter_input(record: bytes, processing: DataProcessing, content_type: str) -> bytes:
    """What is sent for ``record``: InputFilter applied, the line ending kept."""
    if processing.input_filter == "$":
        return record
    ending = record[len(record.rstrip(b"\r\n")):]
    selected = select(parse_record(record, content_type), processing.input_filter)
    return format_record(selected, content_type) + ending


def join_output(original: bytes, output: Any, processing: DataProcessing, content_type: str) -> Any:
    """The value written for one record: the output, joined with its input when asked, OutputFilter applied."""
    value = output
    if processing.join_input:
        source = parse_record(original, content_type)
        if media_type(content_type) == CSV:
            value = [*source, *(output if isinstance(output, list) else [output])]
        elif isinstance(source, dict):
            value = {**source, "SageMakerOutput": output}
        else:
            value = {"SageMakerInput": source, "SageMakerOutput": output}
    return select(value, processing.output_filter)


def split_output(body: bytes, count: int, accept: str) -> list[Any]:
    """A response to ``count`` records as one value per record (CSV rows, JSON Lines, or a JSON array)."""
    kind = media_type(accept)
    text = body.decode("utf-8")
    if kind == JSON and count > 1:
        value = json.loads(text)
        values = value.get("predictions", value) if isinstance(value, dict) else value
        if isinstance(values, list) and len(values) == count:
            return list(values)
        raise DataProcessingError(f"the model answered {count} records with a JSON value that is not an array "
                                  f"of {count}")
    if kind == JSON:
        return [json.loads(text)]
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != count:
        raise DataProcessingError(f"the model answered {count} records with {len(lines)} lines")
    if kind == CSV:
        return [row if len(row) > 1 else row[0] for row in csv.reader(lines)]
    return [json.loads(line) for line in lines]
