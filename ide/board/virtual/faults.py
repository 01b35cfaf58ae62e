"""Faults a test can inject on the wire, as a bad cable, a noisy line or a yanked USB plug would cause them.

Host-to-board faults (``VirtualBoard.corrupt_byte``, ``disconnect_after``: ``InputFaults``) are applied where
the host's bytes enter the bridge, counted in bytes the host sent; board-to-host faults (``OutputFaults``) where
the board's bytes leave it, counted in bytes of the wire after cooking, as a USB-serial chip would see them.
"""

from __future__ import annotations


class InputFaults:
    """Pending faults on the host-to-board direction. ``received`` counts every byte the host sent."""

    def __init__(self) -> None:
        self.received = 0
        self.corrupt_at: int | None = None
        self.unplug_at: int | None = None
        self.unplug_now = False

    def apply(self, data: bytes) -> bytes:
        """What of ``data`` reaches the board; sets ``unplug_now`` when the cable is pulled inside it."""
        start = self.received
        self.received += len(data)
        if self.corrupt_at is not None and start <= self.corrupt_at < self.received:
            index = self.corrupt_at - start
            data = data[:index] + bytes([data[index] ^ 0x5A]) + data[index + 1:]
            self.corrupt_at = None
        if self.unplug_at is not None and self.received >= self.unplug_at:
            keep = max(0, self.unplug_at - start)
            self.unplug_at = None
            self.unplug_now = True
            return data[:keep]
        return data


class OutputFaults:
    """Pending faults on the board-to-host direction. ``sent`` counts every byte that left the board."""

    def __init__(self) -> None:
        self.sent = 0
        self.corrupt_at: int | None = None
        self.drop_from: int | None = None
        self.drop_count = 0
        self.unplug_at: int | None = None
        self.unplug_now = False

    def apply(self, data: bytes) -> bytes:
        start, end = self.sent, self.sent + len(data)
        self.sent = end
        out = bytearray(data)
        if self.corrupt_at is not None and start <= self.corrupt_at < end:
            out[self.corrupt_at - start] ^= 0x5A
            self.corrupt_at = None
        if self.drop_from is not None and self.drop_from < end:
            first = max(0, self.drop_from - start)
            last = min(len(out), self.drop_from + self.drop_count - start)
            lost = max(0, last - first)
            del out[first:last]
            self.drop_from += lost
            self.drop_count -= lost
            if self.drop_count <= 0:
                self.drop_from = None
        if self.unplug_at is not None and self.unplug_at <= end:
            keep = max(0, self.unplug_at - start)
            # What was already dropped above shifts the cut: keep the first `keep` bytes of what is left.
            out = out[:keep]
            self.unplug_at = None
            self.unplug_now = True
        return bytes(out)
