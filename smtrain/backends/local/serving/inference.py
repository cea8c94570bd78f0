"""The inference handler: what the scikit-learn serving image does with a request.

A user script written for the SageMaker scikit-learn container runs unchanged:
``model_fn(model_dir)`` is required; ``input_fn(body, content_type)``,
``predict_fn(data, model)`` and ``output_fn(prediction, accept)`` default to
the image's behaviour for ``application/json``, ``text/csv`` and
``application/x-npy``; or one ``transform_fn(model, body, content_type, accept)``
replaces all three. As in the image, JSON and CSV bodies reach ``input_fn`` as
``str`` and others as ``bytes``; a missing ``Content-Type`` means JSON; a
missing or ``*/*`` ``Accept`` means ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``
(``application/json``); an ``output_fn``/``transform_fn`` may return bytes or str,
a dict or list (JSON, as Flask answers it), a ``(body, content_type)`` tuple, or
a response object (``worker.Response``) whose status and type are kept; JSON and CSV input becomes float32.

The answer's ``Content-Type`` is the image's for each of those (captured from the image's own
sagemaker-containers, Flask and Werkzeug in ``tests/fixtures/serving_content_types``): the default
``output_fn`` and a tuple name their type as Werkzeug writes it (``text/csv; charset=utf-8``); bytes
and str are Flask's default, ``text/html; charset=utf-8``, whatever the ``Accept``; a dict or list is
``application/json``. One difference: the images with Flask 1.1.1 (before 1.9-0) answer 500 for a
returned list; smtrain answers it as JSON, as 1.9-0's Flask 3 does.

Where the image is wrong, this handler is right (the image answers 500 with an
HTML page in each case):

- an unsupported ``Content-Type`` answers 415, an unsupported ``Accept`` 406,
  and a body that does not decode as its content type 400;
- ``.npy`` bodies load with ``allow_pickle=False`` (the image unpickles
  whatever it is sent);
- a one-row CSV is one sample, a 2-D array with one row (the image squeezes it
  to 1-D and scikit-learn rejects it);
- a CSV with text columns decodes to an object array, numbers as floats (the
  image's float32 cast fails on the first text cell);
- an exception in user code answers 500 with a one-line message; the
  traceback goes to the server log only;
- a ``charset`` parameter (``text/csv; charset=latin-1``) is honoured when a
  JSON or CSV body is decoded (the image reads every body as UTF-8); an
  unknown charset answers 415, a body it does not decode 400.

Everything here is in-process and pure enough to test without a server.
"""

from __future__ import annotations

import codecs
import csv
import importlib.util
import io
import json
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
ANY = "*/*"
# flask.Response.default_mimetype with Werkzeug's charset: what Flask answers for a returned str or bytes.
FLASK_DEFAULT = "text/html; charset=utf-8"
# werkzeug/utils.py get_content_type: these, text/* and */*+xml get "; charset=utf-8" appended.
CHARSET_TYPES = frozenset({"application/ecmascript", "application/javascript", "application/sql", "application/xml",
                           "application/xml-dtd", "application/xml-external-parsed-entity"})
SUPPORTED = (JSON, CSV, NPY)
TEXT_TYPES = (JSON, CSV)

logger = logging.getLogger("smtrain.inference")


class InferenceResult(NamedTuple):
    status: int
    body: bytes
    content_type: str


class InferenceError(Exception):
    """A request the handler refuses; ``status`` is the HTTP answer."""

    status = 500


class UnsupportedContentType(InferenceError):
    status = 415

    def __init__(self, content_type: str, why: str = "") -> None:
        super().__init__(
            f"unsupported content type {content_type!r}"
            + (f": {why}" if why else f"; the default input_fn reads {', '.join(SUPPORTED)}")
        )


class UnsupportedAccept(InferenceError):
    status = 406

    def __init__(self, accept: str) -> None:
        super().__init__(f"unsupported accept {accept!r}; the default output_fn writes {', '.join(SUPPORTED)}")


class BadPayload(InferenceError):
    status = 400


def media_type(header: str | None) -> str:
    """``"text/csv; charset=utf-8"`` -> ``"text/csv"``."""
    return (header or "").split(";")[0].strip().lower()


def charset(header: str | None) -> str:
    """``"text/csv; charset=latin-1"`` -> ``"latin-1"``; UTF-8 when the header names none."""
    for parameter in (header or "").split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"'):
            return value.strip().strip('"')
    return "utf-8"


# -- decoding -----------------------------------------------------------------


def decode(body: bytes | str, content_type: str) -> np.ndarray:
    """The request body as an array; rows are samples."""
    kind = media_type(content_type) or JSON
    if kind == NPY:
        return _npy_to_array(body if isinstance(body, bytes) else body.encode())
    if kind not in TEXT_TYPES:
        raise UnsupportedContentType(content_type)
    text = _as_text(body, content_type)
    return _json_to_array(text) if kind == JSON else csv_to_array(text)


def _as_text(body: bytes | str, content_type: str | None = None) -> str:
    if isinstance(body, str):
        return body
    encoding = charset(content_type)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise UnsupportedContentType(content_type or "", f"unknown charset {encoding!r}") from None
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise BadPayload(f"the body is not {encoding}: {exc}") from None


def _npy_to_array(body: bytes) -> np.ndarray:
    try:
        loaded = np.load(io.BytesIO(body), allow_pickle=False)
    except ValueError as exc:
        raise BadPayload(f"the body is not a .npy array that loads without pickle: {exc}") from None
    except (OSError, EOFError) as exc:
        raise BadPayload(f"the body is not a .npy array: {exc}") from None
    if not isinstance(loaded, np.ndarray):
        raise BadPayload("the body is an .npz archive; send a single .npy array")
    return loaded


def _json_to_array(text: str) -> np.ndarray:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadPayload(f"the body is not valid JSON: {exc}") from None
    return _numeric_or_objects(data)


def _numeric_or_objects(data: Any) -> np.ndarray:
    try:
        return np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError):
        return np.array(data, dtype=object)


def csv_to_array(text: str) -> np.ndarray:
    """CSV rows as a 2-D array: float32 when every cell is a number, otherwise
    objects (numbers as floats, empty cells as NaN, text as str)."""
    try:
        rows = [row for row in csv.reader(io.StringIO(text), strict=True) if row]
    except csv.Error as exc:
        raise BadPayload(f"the body is not valid CSV: {exc}") from None
    if not rows:
        raise BadPayload("the CSV body has no rows")
    if len({len(row) for row in rows}) > 1:
        raise BadPayload("the CSV rows have different numbers of columns")
    cells = [[_cell(value) for value in row] for row in rows]
    if all(isinstance(value, float) for row in cells for value in row):
        return np.array(cells, dtype=np.float32)
    array = np.empty((len(cells), len(cells[0])), dtype=object)
    array[:, :] = cells
    return array


def _cell(value: str) -> float | str:
    stripped = value.strip()
    if not stripped:
        return float("nan")
    try:
        return float(stripped)
    except ValueError:
        return value


# -- encoding -----------------------------------------------------------------


def encode(prediction: Any, accept: str) -> bytes:
    kind = media_type(accept)
    if kind == JSON:
        return json.dumps(prediction, default=_to_list).encode()
    if kind == CSV:
        return _array_to_csv(prediction)
    if kind == NPY:
        return _array_to_npy(prediction)
    raise UnsupportedAccept(accept)


def _to_list(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _array_to_csv(prediction: Any) -> bytes:
    array = np.asarray(prediction)
    if array.ndim < 2:
        array = array.reshape(-1, 1)  # one prediction per line, as the image writes them
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(array.tolist())
    return out.getvalue().encode()


def _array_to_npy(prediction: Any) -> bytes:
    array = np.asarray(prediction)
    if array.dtype == object:
        array = np.array(array.tolist())  # class labels as a str array, not pickled objects
    out = io.BytesIO()
    try:
        np.save(out, array, allow_pickle=False)
    except ValueError as exc:
        raise InferenceError(f"the prediction cannot be written as .npy without pickle: {exc}") from None
    return out.getvalue()


# -- the image's default handlers ---------------------------------------------


def default_input_fn(body: bytes | str, content_type: str) -> np.ndarray:
    return decode(body, content_type)


def default_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data)


def default_output_fn(prediction: Any, accept: str) -> bytes:
    return encode(prediction, accept)


def negotiate(accept: str, default_accept: str) -> str:
    """The first type in ``Accept`` the defaults can write; ``*/*`` means the default."""
    for candidate in accept.split(","):
        kind = media_type(candidate)
        if kind == ANY:
            return default_accept
        if kind in SUPPORTED:
            return kind
    raise UnsupportedAccept(accept)


# -- the user module ----------------------------------------------------------


def module_name(program: str) -> str:
    """``SAGEMAKER_PROGRAM`` (``inference.py``) -> the module name (``inference``)."""
    return program[:-3] if program.endswith(".py") else program


def load_user_module(code_dir: Path, program: str) -> ModuleType:
    """Import ``program`` from ``code_dir``, with ``code_dir`` importable for its own imports."""
    if not program:
        raise InferenceError("SAGEMAKER_PROGRAM is not set; it names the script that defines model_fn")
    name = module_name(program)
    path = code_dir / f"{name}.py"
    if not path.is_file():
        raise InferenceError(f"SAGEMAKER_PROGRAM names {program!r} but {path} does not exist")
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pickled references to the script's classes resolve
    spec.loader.exec_module(module)
    return module


@dataclass
class UserFunctions:
    model_fn: Callable[[str], Any]
    input_fn: Callable[[Any, str], Any] | None = None
    predict_fn: Callable[[Any, Any], Any] | None = None
    output_fn: Callable[[Any, str], Any] | None = None
    transform_fn: Callable[[Any, Any, str, str], Any] | None = None

    @classmethod
    def from_module(cls, module: ModuleType) -> UserFunctions:
        model_fn = getattr(module, "model_fn", None)
        if model_fn is None:
            raise InferenceError(f"{module.__name__} defines no model_fn(model_dir), which the image requires")
        found = {name: getattr(module, name, None) for name in ("input_fn", "predict_fn", "output_fn", "transform_fn")}
        if found["transform_fn"] and any(found[name] for name in ("input_fn", "predict_fn", "output_fn")):
            raise InferenceError("define transform_fn or input_fn/predict_fn/output_fn, not both")
        return cls(model_fn=model_fn, **found)


class Handler:
    """One loaded model and the functions that serve it."""

    def __init__(self, functions: UserFunctions, model_dir: Path, *, default_accept: str = JSON) -> None:
        self.functions = functions
        self.model_dir = model_dir
        self.default_accept = default_accept or JSON
        self.model: Any = None
        self.loaded = False

    @classmethod
    def from_environment(cls, code_dir: Path, model_dir: Path, environ: Mapping[str, str]) -> Handler:
        """The handler the image would build from ``SAGEMAKER_PROGRAM`` and friends."""
        module = load_user_module(code_dir, environ.get("SAGEMAKER_PROGRAM", ""))
        return cls(
            UserFunctions.from_module(module),
            model_dir,
            default_accept=environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", JSON),
        )

    def load(self) -> None:
        if not self.loaded:
            self.model = self.functions.model_fn(str(self.model_dir))
            self.loaded = True

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> InferenceResult:
        """Answer one request; never raises."""
        content_type = content_type or JSON
        accept = self.default_accept if not accept or accept.strip() == ANY else accept
        try:
            self.load()
            payload: bytes | str = _as_text(body, content_type) if media_type(content_type) in TEXT_TYPES else body
            result = self._transform(payload, content_type, accept)
            return _to_result(result)
        except InferenceError as exc:
            if exc.status >= 500:
                logger.exception("inference failed")
            return _error(exc.status, str(exc))
        except Exception as exc:
            logger.exception("user code raised")
            return _error(500, f"{type(exc).__name__}: {exc}")

    def _transform(self, payload: bytes | str, content_type: str, accept: str) -> Any:
        fns = self.functions
        if fns.transform_fn is not None:
            return fns.transform_fn(self.model, payload, content_type, accept)
        data = (fns.input_fn or default_input_fn)(payload, content_type)
        prediction = (fns.predict_fn or default_predict_fn)(data, self.model)
        if fns.output_fn is not None:
            return fns.output_fn(prediction, accept)
        chosen = negotiate(accept, self.default_accept)
        return encode(prediction, chosen), chosen


def werkzeug_content_type(mimetype: str) -> str:
    """The header Werkzeug writes for ``mimetype`` (``werkzeug.utils.get_content_type``, charset utf-8):
    ``text/csv`` -> ``text/csv; charset=utf-8``; it appends even when ``mimetype`` names a charset."""
    if mimetype.startswith("text/") or mimetype in CHARSET_TYPES or mimetype.endswith("+xml"):
        return f"{mimetype}; charset=utf-8"
    return mimetype


def _to_result(result: Any) -> InferenceResult:
    """What the image's Flask layer makes of a returned value: a response object as is; a
    ``(body, content_type)`` tuple as ``worker.Response(body, mimetype=content_type)``
    (sagemaker_containers/_transformer.py ``transform``); a dict or list as JSON; bytes or str as
    Flask's default response (flask/app.py ``make_response``)."""
    if _is_response(result):
        return _from_response(result)
    if isinstance(result, tuple):
        body, content_type = result[0], werkzeug_content_type(str(result[1]))
    elif isinstance(result, dict | list):
        body, content_type = json.dumps(result), JSON
    else:
        body, content_type = result, FLASK_DEFAULT
    if isinstance(body, str):
        body = body.encode()
    if not isinstance(body, bytes | bytearray):
        raise InferenceError(
            f"output_fn/transform_fn returned {type(body).__name__}; return bytes, str, a dict or list (JSON), "
            "(body, content_type), or a worker.Response"
        )
    return InferenceResult(200, bytes(body), str(content_type))


def _is_response(result: Any) -> bool:
    """A Flask/Werkzeug response, e.g. sagemaker_containers' ``worker.Response`` (duck-typed: the
    server never imports the toolkits)."""
    return all(hasattr(result, name) for name in ("response", "mimetype", "status"))


def _from_response(response: Any) -> InferenceResult:
    if callable(getattr(response, "get_data", None)):
        body = response.get_data()
    else:
        chunks = response.response
        chunks = [chunks] if isinstance(chunks, str | bytes) else list(chunks or [])
        body = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
    status = getattr(response, "status_code", None) or int(str(response.status).split()[0])
    content_type = getattr(response, "content_type", None) or response.mimetype
    return InferenceResult(int(status), bytes(body), str(content_type))


def _error(status: int, message: str) -> InferenceResult:
    return InferenceResult(status, message.encode(), "text/plain; charset=utf-8")
