"""Reading a transform job's results back: its ``.out`` files in the order of its input files.

Each input object ``<prefix>/<key>`` gave ``<S3OutputPath>/<key>.out`` (AWS docs, "Run batch transform":
https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html); a single-object input gave
``<S3OutputPath>/<its name>.out``.
"""

from __future__ import annotations

import io
import json
from typing import Any

from smtrain.backends.base import Backend
from smtrain.core.errors import NotFoundError


def read_output(backend: Backend, description: dict[str, Any], *, raw: bool, join_input: bool) -> Any:
    source = description["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    output = description["TransformOutput"]["S3OutputPath"]
    pairs = [(key, _read(backend, _join(output, f"{relative}.out"))) for key, relative in _input_keys(backend,
                                                                                                   source)]
    if raw:
        return b"".join(body for _, body in pairs)
    import pandas as pd

    accept = description["TransformOutput"].get("Accept", "")
    frames = [_frame(body, accept) for _, body in pairs]
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not join_input:
        return result
    content_type = description["TransformInput"].get("ContentType", "")
    inputs = pd.concat([_frame(_read(backend, key), content_type) for key, _ in pairs], ignore_index=True)
    result.columns = [f"output_{c}" if isinstance(c, int) else c for c in result.columns]
    return pd.concat([inputs, result], axis=1)


def _frame(body: bytes, media_type: str) -> Any:
    import pandas as pd

    kind = media_type.split(";")[0].strip().lower()
    if not body.strip():
        return pd.DataFrame()
    if kind in ("application/json", "application/jsonlines"):
        values = [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
        flat = [item for value in values for item in (value if isinstance(value, list) else [value])]
        if flat and all(isinstance(item, dict) for item in flat):
            return pd.json_normalize(flat)
        return pd.DataFrame({0: flat})
    return pd.read_csv(io.BytesIO(body), header=None)


def _join(prefix: str, relative: str) -> str:
    return prefix.rstrip("/") + "/" + relative


def _input_keys(backend: Backend, source: str) -> list[tuple[str, str]]:
    """(the input object's URI, its key below the prefix) for each input object, in key order."""
    if source.startswith("s3://"):
        return _s3_keys(backend, source)
    from smtrain.backends.local.transform.inputs import input_files, uri_path

    root = uri_path(source, "inputs")
    return [(path.as_uri(), path.name if path == root else path.relative_to(root).as_posix())
            for path in input_files(root)]


def _s3_keys(backend: Backend, source: str) -> list[tuple[str, str]]:
    from smtrain.core.uris import split_s3

    bucket, prefix = split_s3(source)
    s3 = backend.s3()  # type: ignore[attr-defined]
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", []) if not item["Key"].endswith("/")]
    if keys == [prefix]:
        return [(source, prefix.rsplit("/", 1)[-1])]
    base = prefix if prefix.endswith("/") or not prefix else prefix + "/"
    return [(f"s3://{bucket}/{key}", key[len(base):] if key.startswith(base) else key) for key in sorted(keys)]


def _read(backend: Backend, uri: str) -> bytes:
    if uri.startswith("s3://"):
        from smtrain.core.uris import split_s3

        bucket, key = split_s3(uri)
        try:
            return bytes(backend.s3().get_object(Bucket=bucket, Key=key)["Body"].read())  # type: ignore[attr-defined]
        except Exception as exc:  # botocore's NoSuchKey and its kin
            raise NotFoundError(f"no transform output at {uri}", where="TransformJob.output",
                                hint="the job writes <file>.out once each file is done") from exc
    from smtrain.core.uris import to_path

    path = to_path(uri)
    if not path.is_file():
        raise NotFoundError(f"no transform output at {path}", where="TransformJob.output",
                            hint="the job writes <file>.out once each file is done")
    return path.read_bytes()
