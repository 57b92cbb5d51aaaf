#!/usr/bin/env python3
"""Writes tests/wal/fuzz_corpus/ from the byte layout in wal/include/txcoord/wal/format.h.

Independent of the C++ encoder on purpose: FormatAtTheByte.IndependentEncoderMatches reads these
files, so a drift between the documented format and the code fails a test.
Usage: tests/wal/make_fuzz_corpus.py  (from the repository root)
"""
import os
import struct


def crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = crc_table()


def crc32c(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def mask(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def record(lsn, kind, body):  # txcoord.wal.pb.Record, fields 1..4
    return (b"\x08\x01" + b"\x10" + varint(lsn) + b"\x18" + varint(kind) + b"\x22" +
            varint(len(body)) + body)


def frame(payload, frame_type=1):
    crc = mask(crc32c(payload, crc32c(bytes([frame_type]))))
    return struct.pack("<II", crc, len(payload)) + bytes([frame_type]) + payload


def main():
    out = "tests/wal/fuzz_corpus"
    os.makedirs(out, exist_ok=True)
    seg = b"".join(frame(record(i, 1, b"body-%d" % i)) for i in range(1, 6))
    files = {
        "segment_clean": seg + b"\0" * 64,
        "segment_torn": seg[:-7],
        "segment_bitflip": bytes(b ^ 0x20 if i == 30 else b for i, b in enumerate(seg)),
        "checkpoint": frame(record(5, 2, b"snapshot")),
        "empty_body": frame(record(1, 1, b"")),
        "zeros": b"\0" * 32,
    }
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
