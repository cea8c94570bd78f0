"""A transform job's input and output locations, and what is refused before any model server starts.

Input (API_TransformS3DataSource): ``S3Prefix`` names an object or every object under a prefix,
each transformed into ``<S3OutputPath>/<its key below the prefix>.out`` (AWS docs, "Run batch
transform": https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html). Locally a
prefix is a ``file://`` URI (or a path) of a file or a folder; an ``s3://`` input is downloaded
once into the cache, with the user's credentials, by the runner.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from smtrain.backends.local.transform import data_processing
from smtrain.backends.local.transform.data_processing import DataProcessing, DataProcessingError

NPY_MAGIC = b"\x93NUMPY"
LOCAL_SPLIT_TYPES = ("None", "Line", "RecordIO")  # TFRecord needs TensorFlow's framing: not read locally


class InputRefused(Exception):
    """What the job cannot run, found before it starts."""


def uri_path(uri: str, what: str) -> Path:
    from smtrain.core.uris import is_file_uri, to_path

    if is_file_uri(uri):
        return to_path(uri)
    if "://" in uri:
        raise InputRefused(f"the local backend reads and writes {what} as file:// URIs or paths, not {uri}")
    return Path(uri)


def input_files(root: Path) -> list[Path]:
    """The files of an input: the file itself, or every file under the folder in key order (hidden ones left out)."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted((p for p in root.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts)),
                  key=lambda p: p.relative_to(root).as_posix())


def output_name(root: Path, file: Path) -> str:
    """``<key below the prefix>.out`` (for a single-object input, its file name)."""
    relative = file.name if root == file else file.relative_to(root).as_posix()
    return f"{relative}.out"


@contextmanager
def open_input(path: Path, compression: str) -> Iterator[BinaryIO]:
    """The file as a stream of its bytes (gunzipped on the fly for CompressionType Gzip)."""
    if compression == "Gzip":
        with gzip.open(path, "rb") as unzipped:
            yield unzipped  # type: ignore[misc]
    else:
        with open(path, "rb") as stream:
            yield stream


def check_request(request: dict[str, Any]) -> None:
    """Refuse a request whose input, content type, filters or output cannot work."""
    transform_input = request["TransformInput"]
    source = transform_input["DataSource"]["S3DataSource"]
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise InputRefused(f"S3DataType {source['S3DataType']} is not supported locally: give S3Prefix")
    if transform_input.get("SplitType", "None") not in LOCAL_SPLIT_TYPES:
        raise InputRefused(f"SplitType {transform_input['SplitType']} is not supported locally: give "
                           f"{', '.join(LOCAL_SPLIT_TYPES)}")
    output = request["TransformOutput"]
    uri_path(output["S3OutputPath"], "outputs")
    try:
        processing = DataProcessing.from_request(request.get("DataProcessing"))
    except DataProcessingError as exc:
        raise InputRefused(f"DataProcessing: {exc}") from None
    content_type = transform_input.get("ContentType", "")
    if processing.active:
        for field, value in (("TransformInput.ContentType", content_type), ("TransformOutput.Accept",
                                                                             output.get("Accept", ""))):
            if data_processing.media_type(value) not in data_processing.FORMATS:
                raise InputRefused(f"DataProcessing needs {field} text/csv, application/json or "
                                   f"application/jsonlines, not {value or 'none'!r}")
    if source["S3Uri"].startswith("s3://"):
        return  # the runner downloads it and checks it before any server starts
    check_input(uri_path(source["S3Uri"], "inputs"), transform_input)


def check_input(root: Path, transform_input: dict[str, Any]) -> list[Path]:
    """The input's files; refused when there is none, all are empty, or the first record is not its ContentType."""
    uri = transform_input["DataSource"]["S3DataSource"]["S3Uri"]
    if not root.exists():
        raise InputRefused(f"no input at {uri}")
    files = input_files(root)
    if not files:
        raise InputRefused(f"no input files under {uri}")
    non_empty = [f for f in files if f.stat().st_size > 0]
    if not non_empty:
        raise InputRefused(f"every input file under {uri} is empty")
    compression = transform_input.get("CompressionType", "None")
    with open_input(non_empty[0], compression) as stream:
        sample = stream.readline(64 * 1024) if transform_input.get("SplitType") == "Line" else stream.read(64 * 1024)
    problem = content_problem(sample, transform_input.get("ContentType", ""),
                              whole=transform_input.get("SplitType") != "Line")
    if problem:
        raise InputRefused(f"{non_empty[0].name} is not {transform_input.get('ContentType')}: {problem}")
    return files


def content_problem(sample: bytes, content_type: str, *, whole: bool) -> str:
    """Why ``sample`` (the first record, or the start of the file) cannot be ``content_type`` ("" if it can)."""
    kind = data_processing.media_type(content_type)
    if kind == "application/x-npy":
        return "" if sample.startswith(NPY_MAGIC) else "it does not start with the .npy magic number"
    if kind not in data_processing.FORMATS:
        return ""  # a type only the model's own input_fn knows
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    first = text.lstrip()[:1]
    if kind == data_processing.CSV:
        return "it is JSON" if first in ("{", "[") else ""
    if first not in ("{", "[", '"') and not first.isdigit() and first not in ("-", "t", "f", "n"):
        return "it does not start with a JSON value"
    if not whole:
        try:
            json.loads(text)
        except ValueError as exc:
            return f"its first record is not JSON ({exc})"
    return ""
