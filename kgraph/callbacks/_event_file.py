"""TensorBoard event files, written and read without TensorFlow.

An event file is a sequence of TFRecords: `uint64 length, uint32 masked_crc32c(length),
data, uint32 masked_crc32c(data)`, little-endian, where `data` is a serialized
`tensorflow.Event` protobuf. The few messages needed here are encoded by hand:

    Event          { double wall_time = 1; int64 step = 2; string file_version = 3;
                     Summary summary = 5; }
    Summary        { repeated Value value = 1; }
    Summary.Value  { string tag = 1; float simple_value = 2; HistogramProto histo = 5; }
    HistogramProto { double min = 1, max = 2, num = 3, sum = 4, sum_squares = 5;
                     repeated double bucket_limit = 6 [packed]; repeated double bucket = 7 [packed]; }
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Event", "EventFileWriter", "Histogram", "crc32c", "histogram", "read_events"]


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord framing uses."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# -- protobuf wire format --------------------------------------------------------------


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values are encoded as their two's complement
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint((number << 3) | wire_type)


def _len_field(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _double_field(number: int, value: float) -> bytes:
    return _key(number, 1) + struct.pack("<d", value)


@dataclass(frozen=True)
class Histogram:
    """A `HistogramProto`: summary statistics and non-empty buckets (`bucket[i]` counts
    values below `bucket_limit[i]` and at or above the previous limit)."""

    min: float
    max: float
    num: float
    sum: float
    sum_squares: float
    bucket_limit: tuple[float, ...]
    bucket: tuple[float, ...]


def _default_bucket_limits() -> np.ndarray:
    # TensorFlow's default: limits growing by 10% from 1e-12 to 1e20, mirrored, with 0.
    positive = []
    v = 1.0e-12
    while v < 1.0e20:
        positive.append(v)
        v *= 1.1
    positive.append(np.finfo(np.float64).max)
    pos = np.array(positive)
    return np.concatenate([-pos[::-1], [0.0], pos])


_BUCKET_LIMITS = _default_bucket_limits()


def histogram(values: np.ndarray) -> Histogram:
    """The histogram TensorFlow's `tf.summary.histogram` (v1) would record for `values`."""
    values = np.asarray(values, dtype=np.float64).ravel()
    # Bucket i holds limits[i-1] <= v < limits[i] (TensorFlow's upper_bound); the last
    # limit is DBL_MAX, so only inf and nan fall past it and are kept in the last bucket.
    index = np.searchsorted(_BUCKET_LIMITS, values, side="right")
    counts = np.bincount(np.minimum(index, len(_BUCKET_LIMITS) - 1), minlength=len(_BUCKET_LIMITS))
    limits, buckets = [], []
    i, n = 0, len(_BUCKET_LIMITS)
    while i < n:
        end, count = _BUCKET_LIMITS[i], counts[i]
        i += 1
        if count <= 0:  # a run of empty buckets becomes one
            while i < n and counts[i] <= 0:
                end, count = _BUCKET_LIMITS[i], counts[i]
                i += 1
        limits.append(float(end))
        buckets.append(float(count))
    empty = values.size == 0
    return Histogram(
        min=float(values.min()) if not empty else np.finfo(np.float64).max,
        max=float(values.max()) if not empty else -np.finfo(np.float64).max,
        num=float(values.size),
        sum=float(values.sum()),
        sum_squares=float(np.dot(values, values)),
        bucket_limit=tuple(limits),
        bucket=tuple(buckets),
    )


def _encode_histogram(h: Histogram) -> bytes:
    out = b"".join(
        _double_field(i, v) for i, v in enumerate((h.min, h.max, h.num, h.sum, h.sum_squares), 1)
    )
    out += _len_field(6, struct.pack(f"<{len(h.bucket_limit)}d", *h.bucket_limit))
    return out + _len_field(7, struct.pack(f"<{len(h.bucket)}d", *h.bucket))


@dataclass(frozen=True)
class Event:
    """One decoded event: `scalars` maps tags to simple values, `histograms` tags to
    `Histogram`s; `file_version` is set only on a file's first event."""

    wall_time: float
    step: int = 0
    file_version: str | None = None
    scalars: dict[str, float] = field(default_factory=dict)
    histograms: dict[str, Histogram] = field(default_factory=dict)


def encode_event(event: Event) -> bytes:
    """The `tensorflow.Event` protobuf bytes of `event`."""
    out = _double_field(1, event.wall_time)
    if event.step:
        out += _key(2, 0) + _varint(event.step)
    if event.file_version is not None:
        out += _len_field(3, event.file_version.encode("utf-8"))
    values = [
        _len_field(1, tag.encode("utf-8")) + _key(2, 5) + struct.pack("<f", value)
        for tag, value in event.scalars.items()
    ]
    values += [
        _len_field(1, tag.encode("utf-8")) + _len_field(5, _encode_histogram(h))
        for tag, h in event.histograms.items()
    ]
    if values:
        out += _len_field(5, b"".join(_len_field(1, v) for v in values))
    return out


class EventFileWriter:
    """Appends events to `<log_dir>/events.out.tfevents.<time>.<host>`, which TensorBoard
    reads. The first record is the `brain.Event:2` file-version event.

    Args:
        log_dir: the directory (created if missing).
    """

    def __init__(self, log_dir: str) -> None:
        os.makedirs(log_dir, exist_ok=True)
        now = time.time()
        name = f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}"
        self.path = os.path.join(log_dir, name)
        self._file = open(self.path, "ab")  # noqa: SIM115 (closed by close())
        self.add_event(Event(wall_time=now, file_version="brain.Event:2"))

    def add_event(self, event: Event) -> None:
        data = encode_event(event)
        header = struct.pack("<Q", len(data))
        self._file.write(header + struct.pack("<I", _masked_crc(header)))
        self._file.write(data + struct.pack("<I", _masked_crc(data)))

    def add_scalars(self, scalars: dict[str, float], step: int) -> None:
        self.add_event(Event(wall_time=time.time(), step=step, scalars=dict(scalars)))

    def add_histograms(self, histograms: dict[str, Histogram], step: int) -> None:
        self.add_event(Event(wall_time=time.time(), step=step, histograms=dict(histograms)))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


# -- reading ---------------------------------------------------------------------------


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, raw value) for each field of a protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            yield number, wire, value
        elif wire == 1:
            yield number, wire, buf[pos : pos + 8]
            pos += 8
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            yield number, wire, buf[pos : pos + size]
            pos += size
        elif wire == 5:
            yield number, wire, buf[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"Unsupported protobuf wire type {wire} in field {number}")


def _decode_histogram(buf: bytes) -> Histogram:
    stats = [0.0] * 5
    limits: tuple[float, ...] = ()
    buckets: tuple[float, ...] = ()
    for number, _, raw in _fields(buf):
        assert isinstance(raw, bytes)
        if 1 <= number <= 5:
            stats[number - 1] = struct.unpack("<d", raw)[0]
        elif number == 6:
            limits = struct.unpack(f"<{len(raw) // 8}d", raw)
        elif number == 7:
            buckets = struct.unpack(f"<{len(raw) // 8}d", raw)
    return Histogram(*stats, bucket_limit=limits, bucket=buckets)


def decode_event(data: bytes) -> Event:
    """Decodes the `tensorflow.Event` fields that `encode_event` writes."""
    wall_time, step, version = 0.0, 0, None
    scalars: dict[str, float] = {}
    histograms: dict[str, Histogram] = {}
    for number, _, raw in _fields(data):
        if number == 1:
            wall_time = struct.unpack("<d", raw)[0]  # type: ignore[arg-type]
        elif number == 2:
            step = int(raw)  # type: ignore[arg-type]
        elif number == 3:
            version = bytes(raw).decode("utf-8")  # type: ignore[arg-type]
        elif number == 5:
            for _, _, value in _fields(raw):  # type: ignore[arg-type]
                tag, simple, histo = "", None, None
                for vnum, _, vraw in _fields(value):  # type: ignore[arg-type]
                    if vnum == 1:
                        tag = bytes(vraw).decode("utf-8")  # type: ignore[arg-type]
                    elif vnum == 2:
                        simple = struct.unpack("<f", vraw)[0]  # type: ignore[arg-type]
                    elif vnum == 5:
                        histo = _decode_histogram(vraw)  # type: ignore[arg-type]
                if simple is not None:
                    scalars[tag] = simple
                if histo is not None:
                    histograms[tag] = histo
    return Event(wall_time, step, version, scalars, histograms)


def read_events(path: str) -> list[Event]:
    """Reads an event file, checking both CRCs of every record.

    Raises:
        ValueError: a truncated record or a CRC mismatch (naming the record's offset).
    """
    with open(path, "rb") as f:
        buf = f.read()
    events, pos = [], 0
    while pos < len(buf):
        if pos + 12 > len(buf):
            raise ValueError(f"{path}: truncated record header at byte {pos}")
        header = buf[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", buf[pos + 8 : pos + 12])
        if header_crc != _masked_crc(header):
            raise ValueError(f"{path}: length CRC mismatch in the record at byte {pos}")
        data = buf[pos + 12 : pos + 12 + length]
        if len(data) != length or pos + 16 + length > len(buf):
            raise ValueError(f"{path}: truncated record at byte {pos}")
        (data_crc,) = struct.unpack("<I", buf[pos + 12 + length : pos + 16 + length])
        if data_crc != _masked_crc(data):
            raise ValueError(f"{path}: data CRC mismatch in the record at byte {pos}")
        events.append(decode_event(data))
        pos += 16 + length
    return events
