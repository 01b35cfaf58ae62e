"""The wire model: what the USB-serial chip and the ESP32's UART do to bytes in flight.

- ``Wire``: one direction of the line, paced to the baud rate, with a latency on top;
- ``UartReceiveBuffer``: the UART's receive ring buffer, which drops what the program has not read yet;
- unread output: what the host does not read is dropped after a while, as a USB-serial chip drops it.
"""

from __future__ import annotations

import logging
from collections import deque

log = logging.getLogger(__name__)

# The ESP32's UART interrupt moves received bytes into a 260-byte ring buffer (ports/esp32/mphalport.c,
# stdin_ringbuf_array[260]) and drops what does not fit. Raw-paste mode relies on it: the board grants two
# 128-byte windows and the host may follow them with the end-of-data byte, 257 bytes unread at worst.
ESP32_STDIN_BUFFER = 260
# Output the host does not read for this long is dropped, as a USB-serial chip drops what nobody reads.
UNREAD_OUTPUT_DROP_S = 1.0
# The bridge takes at most this much of the interpreter's output onto the wire at once: the interpreter blocks
# on its writes while the wire is busy, as a program printing on a chip waits for the UART.
BOARD_TO_HOST_WINDOW = 256


class Wire:
    """Bytes in flight in one direction: each byte leaves after the previous one at the baud rate, then arrives
    ``latency`` later. ``schedule`` returns nothing; ``due(now)`` pops the bytes that have arrived."""

    def __init__(self, baud: int, latency: float):
        self.byte_time = 10.0 / baud if baud else 0.0
        self.latency = latency
        self.queue: deque[tuple[float, bytes]] = deque()
        self.line_free_at = 0.0

    def schedule(self, data: bytes, now: float) -> None:
        if not self.byte_time and not self.latency:
            self.queue.append((now, data))
            return
        if not self.byte_time:
            self.queue.append((now + self.latency, data))
            return
        start = max(now, self.line_free_at)
        # Bytes are grouped in slices of 16 to keep the bookkeeping cheap; 16 bytes at 115200 baud is 1.4 ms.
        for offset in range(0, len(data), 16):
            piece = data[offset:offset + 16]
            start += len(piece) * self.byte_time
            self.queue.append((start + self.latency, piece))
        self.line_free_at = start

    def due(self, now: float) -> bytes:
        out = bytearray()
        while self.queue and self.queue[0][0] <= now:
            out += self.queue.popleft()[1]
        return bytes(out)

    def next_time(self) -> float | None:
        return self.queue[0][0] if self.queue else None

    def pending_bytes(self) -> int:
        return sum(len(piece) for _, piece in self.queue)

    def clear(self) -> None:
        self.queue.clear()


class UartReceiveBuffer:
    """The chip's receive buffer: ``admit(data, unread)`` keeps what fits beside the ``unread`` bytes the program
    has not taken yet and counts the rest as lost (an overrun). ``size`` 0: unbounded."""

    def __init__(self, size: int):
        self.size = size
        self.overruns = 0

    def admit(self, data: bytes, unread: int) -> bytes:
        if not self.size:
            return data
        room = max(0, self.size - unread)
        if len(data) > room:
            # A UART overrun: the interpreter has not read the buffer, the new bytes are lost.
            self.overruns += len(data) - room
            log.debug("virtual board rx overrun: %d bytes lost", len(data) - room)
            data = data[:room]
        return data
