"""Records out of an input file, and the requests they are packed into: SplitType and BatchStrategy.

The facts (AWS docs, "Run batch transform" https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html
and API_TransformInput / API_CreateTransformJob; SDK v2 ``sagemaker/local/data.py``: LineSplitter,
RecordIOSplitter, MultiRecordStrategy, SingleRecordStrategy):

- ``SplitType`` None: the whole file is one record; Line: each line is one (its newline kept, as
  the SDK's LineSplitter yields it); RecordIO: each MXNet RecordIO record.
- ``MultiRecord``: as many whole records as fit in ``MaxPayloadInMB`` per request; ``SingleRecord``:
  one per request. A record larger than ``MaxPayloadInMB`` fails the job. ``MaxPayloadInMB`` 0
  means no limit (the API allows 0 only for HTTP chunked encoding; locally it is simply unbounded).

Files are read as a stream: one line (or one RecordIO record) at a time, never whole.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MB = 1024 * 1024
RECORDIO_MAGIC = 0xCED7230A  # MXNet's kMagic (dmlc-core recordio.h), as SDK v2's read_recordio checks it
CHUNK = 1024 * 1024


class RecordError(Exception):
    """A record the job cannot send: ``index`` is its 1-based number in its file."""

    def __init__(self, index: int, message: str) -> None:
        self.index = index
        super().__init__(message)


@dataclass(frozen=True)
class Batch:
    """Consecutive records of one file, sent as one request; ``first`` is the 1-based number of the first."""

    first: int
    records: tuple[bytes, ...]  # as sent (after InputFilter)
    originals: tuple[bytes, ...]  # as read (what JoinSource Input joins)

    @property
    def payload(self) -> bytes:
        return b"".join(self.records)

    @property
    def last(self) -> int:
        return self.first + len(self.records) - 1


def split(stream: BinaryIO, split_type: str, limit: int) -> Iterator[bytes]:
    """The records of ``stream``; ``limit`` bytes (0: none) bounds a record of SplitType None while it is read."""
    if split_type == "Line":
        for line in stream:  # buffered, one line at a time
            if line.strip():  # a blank line (the file's last newline) is no record
                yield line
    elif split_type == "RecordIO":
        yield from _recordio(stream)
    else:
        yield _whole(stream, limit)


def _whole(stream: BinaryIO, limit: int) -> bytes:
    parts, size = [], 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if limit and size > limit:
            raise RecordError(1, f"the file is one record (SplitType None) larger than MaxPayloadInMB "
                                 f"({limit // MB} MB)")
        parts.append(chunk)
    return b"".join(parts)


def _recordio(stream: BinaryIO) -> Iterator[bytes]:
    index = 0
    while header := stream.read(8):
        index += 1
        if len(header) < 8:
            raise RecordError(index, "a truncated RecordIO header")
        magic, lrecord = struct.unpack("<II", header)
        if magic != RECORDIO_MAGIC:
            raise RecordError(index, "not a RecordIO record (bad magic number)")
        length = lrecord & ((1 << 29) - 1)
        data = stream.read(length)
        padding = (4 - length % 4) % 4
        stream.read(padding)
        if len(data) < length:
            raise RecordError(index, "a truncated RecordIO record")
        yield header + data + b"\x00" * padding  # the record as framed, as the container expects it


def batches(records: Iterator[tuple[bytes, bytes]], strategy: str, limit: int) -> Iterator[Batch]:
    """Requests of whole records, each given as (as read, as sent): packed up to ``limit`` bytes
    (MultiRecord), or one each (SingleRecord)."""
    pending: list[bytes] = []
    originals: list[bytes] = []
    size, first, number = 0, 1, 0
    for number, (original, record) in enumerate(records, start=1):
        if limit and len(record) > limit:
            raise RecordError(number, f"record {number} is {len(record)} bytes, larger than MaxPayloadInMB "
                                      f"({limit // MB} MB)")
        if pending and (strategy == "SingleRecord" or (limit and size + len(record) > limit)):
            yield Batch(first, tuple(pending), tuple(originals))
            pending, originals, size, first = [], [], 0, number
        pending.append(record)
        originals.append(original)
        size += len(record)
    if pending:
        yield Batch(first, tuple(pending), tuple(originals))
