"""Upload bytes in ``upload_chunks``, moved with binary COPY (bytea as text would double the bytes)."""
from __future__ import annotations

import io
import struct
import uuid

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)


def _cursor(session):
    return session.connection().connection.dbapi_connection.cursor()


def write_chunk(session, upload_id: uuid.UUID, seq: int, data: bytes) -> None:
    """One row (upload_id, seq, data) in PostgreSQL's binary COPY format."""
    row = (struct.pack("!h", 3) + struct.pack("!i", 16) + uuid.UUID(str(upload_id)).bytes
           + struct.pack("!ii", 4, seq) + struct.pack("!i", len(data)))
    stream = _Concat(_HEADER + row, data, _TRAILER)
    _cursor(session).copy_expert("COPY upload_chunks (upload_id, seq, data) FROM STDIN WITH (FORMAT binary)", stream)


def read_chunk(session, upload_id: uuid.UUID, seq: int) -> bytes | None:
    buf = io.BytesIO()
    _cursor(session).copy_expert(
        f"COPY (SELECT data FROM upload_chunks WHERE upload_id = '{uuid.UUID(str(upload_id))}' AND seq = {int(seq)}) "
        "TO STDOUT WITH (FORMAT binary)", buf)
    raw = buf.getbuffer()
    pos = len(_HEADER)
    (nfields,) = struct.unpack_from("!h", raw, pos)
    if nfields == -1:
        return None
    (size,) = struct.unpack_from("!i", raw, pos + 2)
    return bytes(raw[pos + 6: pos + 6 + size])


class _Concat(io.RawIOBase):
    """A read-only stream over a few byte strings, without joining them (chunks are megabytes)."""

    def __init__(self, *parts: bytes):
        self.parts, self.i, self.pos = [memoryview(p) for p in parts], 0, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while self.i < len(self.parts) and self.pos >= len(self.parts[self.i]):
            self.i, self.pos = self.i + 1, 0
        if self.i >= len(self.parts):
            return 0
        part = self.parts[self.i]
        n = min(len(b), len(part) - self.pos)
        b[:n] = part[self.pos:self.pos + n]
        self.pos += n
        return n
