"""DataProcessing as the AWS guide "Associate Prediction Results with Input Records" documents it, example for
example and value for value (https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html),
and the records contract (SplitType, BatchStrategy, MaxPayloadInMB) on streams."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from smtrain.backends.local.transform import records
from smtrain.backends.local.transform.data_processing import (
    CSV,
    JSON,
    JSONLINES,
    DataProcessing,
    DataProcessingError,
    filter_input,
    join_output,
    select,
    split_output,
)


def processing(**request: str) -> DataProcessing:
    return DataProcessing.from_request(request)


def test_example_output_only_inferences() -> None:
    """"The following code mimics the default behavior": InputFilter $, JoinSource None, OutputFilter $."""
    default = processing(InputFilter="$", JoinSource="None", OutputFilter="$")
    assert not default.active and default == processing()
    assert filter_input(b"1,2,3\n", default, CSV) == b"1,2,3\n"
    assert join_output(b"1,2,3\n", "1", default, CSV) == "1"


def test_example_output_input_data_and_inferences_json() -> None:
    """JSON input {"key":1} and result {"label":1}: the result goes under SageMakerOutput."""
    joined = join_output(b'{"key":1}', {"label": 1}, processing(JoinSource="Input"), JSON)
    assert joined == {"key": 1, "SageMakerOutput": {"label": 1}}


def test_example_a_json_input_that_is_not_an_object_goes_under_sagemaker_input() -> None:
    joined = join_output(b"[1,2,3]", {"label": 1}, processing(JoinSource="Input"), JSONLINES)
    assert joined == {"SageMakerInput": [1, 2, 3], "SageMakerOutput": {"label": 1}}


def test_example_output_input_data_and_inferences_csv() -> None:
    """"If the record is [1,2,3], and the label result is [1], then the output file would contain [1,2,3,1]"."""
    assert join_output(b"1,2,3\n", "1", processing(JoinSource="Input"), CSV) == ["1", "2", "3", "1"]


def test_example_id_column_with_results_excluded_from_the_input_csv() -> None:
    """Five columns, the first an ID: InputFilter $[1:], JoinSource Input, OutputFilter $."""
    example = processing(InputFilter="$[1:]", JoinSource="Input", OutputFilter="$")
    record = b"id-7,5.1,3.5,1.4,0.2\n"
    assert filter_input(record, example, CSV) == b"5.1,3.5,1.4,0.2\n"
    assert join_output(record, "setosa", example, CSV) == ["id-7", "5.1", "3.5", "1.4", "0.2", "setosa"]


@pytest.mark.parametrize(("expression", "columns"), [
    ("$[1:4]", ["c2", "c3", "c4", "c5"]),  # "specifies the second through fifth columns"
    ("$[5:]", ["c6", "c7"]),  # "all columns from the 6th column through the last column"
    ("$[:5]", ["c1", "c2", "c3", "c4", "c5", "c6"]),  # "the first column (index 0) through the sixth column"
    ("$[0]", "c1"),
    ("$[-1]", "c7"),
    ("$[1,3,5]", ["c2", "c4", "c6"]),
    ("$[0,5:]", ["c1", "c6", "c7"]),  # API_DataProcessing's OutputFilter example
    ("$[2:5]", ["c3", "c4", "c5", "c6"]),
])
def test_csv_columns_by_index_and_slice_as_documented(expression: str, columns: Any) -> None:
    assert select([f"c{i}" for i in range(1, 8)], expression) == columns


def test_example_id_attribute_with_results_excluded_from_the_input_json() -> None:
    """Data in `features`, the ID in `id`: InputFilter $.features, JoinSource Input,
    OutputFilter $['id','SageMakerOutput']."""
    example = processing(InputFilter="$.features", JoinSource="Input", OutputFilter="$['id','SageMakerOutput']")
    record = b'{"id": 12, "features": [5.1, 3.5, 1.4, 0.2]}\n'
    assert json.loads(filter_input(record, example, JSON)) == [5.1, 3.5, 1.4, 0.2]
    assert join_output(record, {"label": 1}, example, JSON) == {"id": 12, "SageMakerOutput": {"label": 1}}


def test_the_other_documented_operators() -> None:
    record = {"id": {"a": 1, "b": 2}, "SageMakerOutput": 3}
    assert select(record, "$.id") == {"a": 1, "b": 2}
    assert sorted(select(record, "$.id.*")) == [1, 2]


@pytest.mark.parametrize("expression", ["[1:]", "$[", "$.a b"])
def test_an_expression_that_is_not_a_supported_jsonpath_is_refused(expression: str) -> None:
    with pytest.raises(DataProcessingError):
        processing(InputFilter=expression)


def test_a_csv_record_keeps_its_cells_as_written_and_rfc4180_quoting() -> None:
    example = processing(InputFilter="$[1:]", JoinSource="Input")
    record = b'7,"Dream, the island",01.50\n'
    assert filter_input(record, example, CSV) == b'"Dream, the island",01.50\n'
    assert join_output(record, "male", example, CSV) == ["7", "Dream, the island", "01.50", "male"]


def test_a_batch_answer_is_one_value_per_record() -> None:
    assert split_output(b"male\nfemale\n", 2, CSV) == ["male", "female"]
    assert split_output(b"1,0.9\n0,0.8\n", 2, CSV) == [["1", "0.9"], ["0", "0.8"]]
    assert split_output(b'{"a":1}\n{"a":2}\n', 2, JSONLINES) == [{"a": 1}, {"a": 2}]
    assert split_output(b'["male","female"]', 2, JSON) == ["male", "female"]
    with pytest.raises(DataProcessingError):
        split_output(b"male\n", 2, CSV)


# -- records ------------------------------------------------------------------------------


class Stream(io.BytesIO):
    """Counts the most bytes asked for at once: a stream read whole would ask for all of them."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest = 0

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        self.largest = max(self.largest, len(line))
        return line

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


def pairs(lines: list[bytes]) -> Any:
    return ((line, line) for line in lines)


def test_lines_are_read_one_at_a_time() -> None:
    stream = Stream(b"".join(f"{i},{i}\n".encode() for i in range(100_000)))
    assert sum(1 for _ in records.split(stream, "Line", 0)) == 100_000
    assert stream.largest <= len(b"99999,99999\n")


def test_multi_record_packs_whole_records_up_to_the_limit() -> None:
    lines = [b"x" * 99 + b"\n"] * 25  # 100 bytes each
    batches = list(records.batches(pairs(lines), "MultiRecord", 1000))
    assert [len(b.records) for b in batches] == [10, 10, 5]
    assert [b.first for b in batches] == [1, 11, 21]
    assert all(len(b.payload) <= 1000 for b in batches)


def test_single_record_sends_one_each_and_zero_means_no_limit() -> None:
    lines = [b"a\n", b"b\n", b"c\n"]
    assert [b.records for b in records.batches(pairs(lines), "SingleRecord", 1000)] == [(b"a\n",), (b"b\n",),
                                                                                       (b"c\n",)]
    assert len(list(records.batches(pairs(lines * 1000), "MultiRecord", 0))) == 1


def test_a_record_over_the_limit_is_named() -> None:
    with pytest.raises(records.RecordError) as too_big:
        list(records.batches(pairs([b"a\n", b"b" * 2000 + b"\n"]), "MultiRecord", 1000))
    assert too_big.value.index == 2


def test_split_none_is_the_whole_file_and_recordio_is_framed() -> None:
    import struct

    assert list(records.split(io.BytesIO(b"1,2\n3,4\n"), "None", 0)) == [b"1,2\n3,4\n"]
    framed = b"".join(struct.pack("<II", records.RECORDIO_MAGIC, len(p)) + p + b"\x00" * ((4 - len(p) % 4) % 4)
                      for p in (b"abc", b"defgh"))
    assert [r[8:].rstrip(b"\x00") for r in records.split(io.BytesIO(framed), "RecordIO", 0)] == [b"abc", b"defgh"]
    with pytest.raises(records.RecordError):
        list(records.split(io.BytesIO(b"not recordio"), "RecordIO", 0))
