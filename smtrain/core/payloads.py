"""Request bodies from Python values, and Python values from response bodies."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from smtrain.core.errors import UsageError


def encode_body(data: Any, content_type: str) -> bytes:
    """bytes and str go as they are; a DataFrame or a list of rows becomes CSV or JSON."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    if hasattr(data, "to_csv") and hasattr(data, "to_dict"):
        if content_type == "text/csv":
            return str(data.to_csv(header=False, index=False)).encode()
        if content_type == "application/json":
            return json.dumps(data.to_dict(orient="records")).encode()
    rows = data.tolist() if hasattr(data, "tolist") else data
    if content_type == "application/json":
        return json.dumps(rows).encode()
    if content_type == "text/csv":
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(row if isinstance(row, list | tuple) else [row] for row in rows)
        return out.getvalue().encode()
    raise UsageError(
        f"cannot encode {type(data).__name__} as {content_type}",
        where="predict",
        hint="pass bytes for this content type, or use text/csv or application/json",
    )


def decode_body(body: bytes, content_type: str) -> Any:
    """JSON is parsed; CSV becomes a list of rows; anything else stays bytes."""
    media = content_type.split(";")[0].strip()
    if media == "application/json":
        return json.loads(body)
    if media == "text/csv":
        return [row for row in csv.reader(io.StringIO(body.decode())) if row]
    return body
