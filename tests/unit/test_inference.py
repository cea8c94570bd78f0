"""The inference handler in-process: defaults, status codes, and the image's bugs fixed."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smtrain.backends.local.serving.inference import (
    BadPayload,
    Handler,
    UnsupportedAccept,
    UnsupportedContentType,
    UserFunctions,
    csv_to_array,
    decode,
    encode,
    load_user_module,
)


class SumModel:
    """Predicts the row sums; records the last input it saw."""

    def __init__(self) -> None:
        self.seen: Any = None

    def predict(self, data: Any) -> np.ndarray:
        self.seen = data
        return np.asarray(data, dtype=float).sum(axis=1)


def handler(**functions: Any) -> Handler:
    model = SumModel()
    return Handler(UserFunctions(model_fn=lambda _: model, **functions), Path("/nowhere"))


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=array.dtype == object)
    return out.getvalue()


# -- decoding and encoding ----------------------------------------------------


def test_a_one_row_csv_is_one_sample() -> None:
    array = decode(b"1,2,3\n", "text/csv")
    assert array.shape == (1, 3)
    assert array.dtype == np.float32


def test_a_one_column_csv_is_one_sample_per_line() -> None:
    assert decode("1\n2\n3\n", "text/csv").shape == (3, 1)


def test_csv_with_text_columns_keeps_text_and_numbers() -> None:
    array = csv_to_array("Adelie,39.1,,male\nGentoo,46.5,17.9,female\n")
    assert array.dtype == object
    assert array.shape == (2, 4)
    assert array[0, 0] == "Adelie" and array[0, 1] == pytest.approx(39.1)
    assert np.isnan(array[0, 2]) and array[1, 3] == "female"


@pytest.mark.parametrize("body", [b"", b"1,2\n3\n", b'"unterminated'])
def test_bad_csv_is_a_bad_payload(body: bytes) -> None:
    with pytest.raises(BadPayload):
        decode(body, "text/csv")


def test_json_numbers_become_float32_and_mixed_rows_objects() -> None:
    assert decode(b"[[1, 2], [3, 4]]", "application/json").dtype == np.float32
    mixed = decode(b'[["Adelie", 39.1]]', "application/json")
    assert mixed.dtype == object and mixed[0, 0] == "Adelie" and mixed[0, 1] == 39.1


def test_content_type_parameters_are_ignored() -> None:
    assert decode(b"1,2", "text/csv; charset=utf-8").shape == (1, 2)


def test_npy_round_trip_keeps_dtype() -> None:
    array = np.arange(6, dtype=np.int16).reshape(2, 3)
    decoded = decode(npy(array), "application/x-npy")
    assert decoded.dtype == np.int16 and (decoded == array).all()


def test_npy_refuses_pickled_objects() -> None:
    pickled = npy(np.array([{"evil": True}], dtype=object))
    with pytest.raises(BadPayload, match="pickle"):
        decode(pickled, "application/x-npy")


def test_npz_and_garbage_are_bad_payloads() -> None:
    archive = io.BytesIO()
    np.savez(archive, a=np.zeros(2))
    for body in (archive.getvalue(), b"not numpy"):
        with pytest.raises(BadPayload):
            decode(body, "application/x-npy")


def test_unsupported_types_raise_with_their_status() -> None:
    with pytest.raises(UnsupportedContentType) as refused:
        decode(b"x", "text/plain")
    assert refused.value.status == 415
    with pytest.raises(UnsupportedAccept) as unacceptable:
        encode([1], "text/html")
    assert unacceptable.value.status == 406


def test_encoders_write_what_the_image_writes() -> None:
    assert encode(np.array([1.5, 2.0]), "application/json") == b"[1.5, 2.0]"
    assert encode(np.array(["a", "b"]), "text/csv") == b"a\nb\n"
    assert encode(np.array([[1, 2], [3, 4]]), "text/csv") == b"1,2\n3,4\n"
    labels = np.load(io.BytesIO(encode(np.array(["a", "b"], dtype=object), "application/x-npy")))
    assert labels.tolist() == ["a", "b"]


# -- the handler --------------------------------------------------------------


def test_defaults_predict_from_csv_to_json() -> None:
    result = handler().invoke(b"1,2\n3,4\n", "text/csv", "application/json")
    assert result == (200, b"[3.0, 7.0]", "application/json")


def test_missing_or_any_accept_means_the_default_accept() -> None:
    h = handler()
    h.default_accept = "text/csv"
    for accept in (None, "", "*/*"):
        assert h.invoke(b"[[1, 2]]", None, accept) == (200, b"3.0\n", "text/csv; charset=utf-8")  # as Werkzeug


def test_accept_lists_pick_the_first_supported_type() -> None:
    result = handler().invoke(b"[[1, 2]]", "application/json", "text/html, application/x-npy;q=0.9")
    assert result.status == 200 and result.content_type == "application/x-npy"
    assert np.load(io.BytesIO(result.body)).tolist() == [3.0]


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status"),
    [
        (b"x", "text/plain", "application/json", 415),
        (b"[[1, 2]]", "application/json", "text/html", 406),
        (b"[[1, 2]", "application/json", "application/json", 400),
        (b"\xff\xfe", "text/csv", "application/json", 400),
    ],
)
def test_client_mistakes_get_4xx_not_500(body: bytes, content_type: str, accept: str, status: int) -> None:
    result = handler().invoke(body, content_type, accept)
    assert result.status == status
    assert result.content_type.startswith("text/plain")


def test_user_code_errors_are_a_short_500(caplog: pytest.LogCaptureFixture) -> None:
    def predict_fn(data: Any, model: Any) -> Any:
        raise ValueError("bad feature count")

    result = handler(predict_fn=predict_fn).invoke(b"1,2", "text/csv", "application/json")
    assert result == (500, b"ValueError: bad feature count", "text/plain; charset=utf-8")
    assert "Traceback" in caplog.text


def test_text_bodies_reach_input_fn_as_str_and_others_as_bytes() -> None:
    seen = []

    def input_fn(body: Any, content_type: str) -> Any:
        seen.append((type(body), content_type))
        return [[1.0, 2.0]]

    h = handler(input_fn=input_fn)
    h.invoke(b"ignored", "text/csv", None)
    h.invoke(b"ignored", "application/octet-stream", None)
    assert seen == [(str, "text/csv"), (bytes, "application/octet-stream")]


def test_output_fn_may_return_a_content_type() -> None:
    h = handler(output_fn=lambda prediction, accept: (json.dumps({"sum": prediction.tolist()}), "application/vnd+json"))
    assert h.invoke(b"1,2", "text/csv", "application/json") == (200, b'{"sum": [3.0]}', "application/vnd+json")


def test_output_fn_returning_an_object_is_a_500_that_says_why() -> None:
    result = handler(output_fn=lambda prediction, accept: prediction).invoke(b"1,2", "text/csv", None)
    assert result.status == 500 and b"returned ndarray" in result.body and b"worker.Response" in result.body


@pytest.mark.parametrize("returned", [{"Output": 1}, [1, 2], [{"a": "b"}]])
def test_output_fn_returning_a_dict_or_list_answers_json_as_flask_does(returned: Any) -> None:
    result = handler(output_fn=lambda prediction, accept: returned).invoke(b"[[1, 2]]", "application/json", None)
    assert result == (200, json.dumps(returned).encode(), "application/json")


def test_a_tuple_body_keeps_its_content_type() -> None:
    result = handler(output_fn=lambda prediction, accept: (b"1,2", "text/csv")).invoke(b"1,2", "text/csv", None)
    assert result == (200, b"1,2", "text/csv; charset=utf-8")  # worker.Response(body, mimetype=...) in the image


def test_a_werkzeug_response_keeps_its_body_status_and_type() -> None:
    from werkzeug.wrappers import Response  # the base class of sagemaker_containers' worker.Response

    def output_fn(prediction: Any, accept: str) -> Any:
        return Response(response="3.0\n", status=201, mimetype="text/csv")

    assert handler(output_fn=output_fn).invoke(b"1,2", "text/csv", None) == (201, b"3.0\n", "text/csv; charset=utf-8")


def test_a_response_like_object_without_get_data_is_read_from_its_chunks() -> None:
    class Minimal:
        response = [b"a", "b"]
        mimetype = "text/plain"
        status = "202 ACCEPTED"

    assert handler(transform_fn=lambda *args: Minimal()).invoke(b"1", "text/csv", None) == (202, b"ab", "text/plain")


def test_transform_fn_replaces_the_three_functions() -> None:
    def transform_fn(model: Any, body: Any, content_type: str, accept: str) -> Any:
        return f"{type(model).__name__}:{body}:{content_type}:{accept}"

    result = handler(transform_fn=transform_fn).invoke(b"1,2", "text/csv", None)
    assert result == (200, b"SumModel:1,2:text/csv:application/json", "text/html; charset=utf-8")  # Flask's default


def test_the_model_loads_once() -> None:
    calls = []
    h = Handler(UserFunctions(model_fn=lambda d: calls.append(d) or SumModel()), Path("/models/m"))
    h.invoke(b"1,2", "text/csv", None)
    h.invoke(b"1,2", "text/csv", None)
    assert calls == ["/models/m"]


# -- the user module ----------------------------------------------------------


def write_script(code_dir: Path, source: str, name: str = "serve_script.py") -> None:
    code_dir.mkdir(parents=True, exist_ok=True)
    (code_dir / name).write_text(textwrap.dedent(source))


def test_the_handler_loads_sagemaker_program_from_the_code_dir(tmp_path: Path) -> None:
    write_script(tmp_path / "code", "VALUE = 7\n", name="helper_mod_a.py")
    write_script(tmp_path / "code", """
        import helper_mod_a

        def model_fn(model_dir):
            return model_dir

        def transform_fn(model, body, content_type, accept):
            return f"{model}:{helper_mod_a.VALUE}"
    """, name="entry_a.py")
    h = Handler.from_environment(tmp_path / "code", tmp_path / "model", {"SAGEMAKER_PROGRAM": "entry_a.py"})
    assert h.invoke(b"", None, None).body == f"{tmp_path / 'model'}:7".encode()


def test_model_fn_is_required(tmp_path: Path) -> None:
    write_script(tmp_path, "def predict_fn(data, model):\n    return data\n", name="entry_b.py")
    with pytest.raises(Exception, match="model_fn"):
        UserFunctions.from_module(load_user_module(tmp_path, "entry_b.py"))


def test_transform_fn_and_input_fn_together_are_refused(tmp_path: Path) -> None:
    write_script(tmp_path, """
        def model_fn(d): return d
        def input_fn(b, c): return b
        def transform_fn(m, b, c, a): return b
    """, name="entry_c.py")
    with pytest.raises(Exception, match="not both"):
        UserFunctions.from_module(load_user_module(tmp_path, "entry_c.py"))


def test_a_missing_program_says_so(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="SAGEMAKER_PROGRAM"):
        load_user_module(tmp_path, "")
    with pytest.raises(Exception, match="does not exist"):
        load_user_module(tmp_path, "absent.py")
