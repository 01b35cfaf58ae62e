"""SLIP framing as the ESP ROM uses it: frames between 0xC0, 0xC0 -> DB DC and 0xDB -> DB DD inside."""

from __future__ import annotations

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD

_END_BYTE = bytes([END])


def encode(payload: bytes) -> bytes:
    body = payload.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
    return _END_BYTE + body + _END_BYTE


def _unescape(body: bytes) -> bytes:
    return body.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")


class SlipDecoder:
    """Feeds on raw serial bytes, yields complete frames. Bytes outside frames (a terminal typing at the chip,
    line noise) are collected in ``stray`` for the caller to judge, since the ROM itself ignores them."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_frame = False
        self.stray = bytearray()

    def reset(self) -> None:
        self._buffer.clear()
        self._in_frame = False
        self.stray.clear()

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        position = 0
        while position < len(data):
            if not self._in_frame:
                start = data.find(_END_BYTE, position)
                if start < 0:
                    self.stray += data[position:]
                    break
                self.stray += data[position:start]
                self._in_frame = True
                position = start + 1
                continue
            end = data.find(_END_BYTE, position)
            if end < 0:
                self._buffer += data[position:]
                break
            self._buffer += data[position:end]
            position = end + 1
            if self._buffer:
                frames.append(_unescape(bytes(self._buffer)))
                self._buffer.clear()
                self._in_frame = False
            # An empty frame means the 0xC0 closed nothing: it opens the next frame (back-to-back delimiters).
        return frames
