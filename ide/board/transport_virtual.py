"""The transport to a virtual board that lives as long as the connection: it starts the board, opens the device its
bridge offers (a pty today, ``socket://127.0.0.1:PORT`` on the socket bridge) through pyserial, and stops the
board when closed. Its RESET "line" is the board's power: :meth:`pulse_reset` presses the RESET button.

``ide.board.virtual`` is imported only when a virtual board is opened, so that importing the transports never
pulls in the virtual board's machinery."""

from __future__ import annotations

from ide.board.serial_link import DEFAULT_LINES, LineSettings
from ide.board.transport_serial import SerialTransport
from ide.errors import VirtualBoardUnavailable

# The port name that means "start a virtual board" (kept equal to ide.board.virtual.VIRTUAL_PORT_NAME).
VIRTUAL_PORT_NAME = "virtual"


class VirtualBoardTransport(SerialTransport):
    def __init__(self, config=None, baud: int = 115200, lines: LineSettings = DEFAULT_LINES):
        super().__init__("", baud, lines, name=VIRTUAL_PORT_NAME)
        self.config = config
        self.virtual_board = None

    @property
    def has_control_lines(self) -> bool:  # type: ignore[override]
        return True  # pulse_reset is the RESET button

    def open(self) -> "VirtualBoardTransport":
        from ide.board.ports import virtual_unavailable_reason

        reason = virtual_unavailable_reason()
        if reason:
            raise VirtualBoardUnavailable(reason)
        from ide.board.virtual import VirtualBoard

        self.virtual_board = VirtualBoard(self.config)
        self.device = self.virtual_board.start()
        try:
            super().open()
        except BaseException:
            self.virtual_board.stop()
            self.virtual_board = None
            raise
        return self

    def _close(self) -> None:
        super()._close()
        if self.virtual_board is not None:
            self.virtual_board.stop()
            self.virtual_board = None

    def set_lines(self, dtr: bool, rts: bool) -> bool:
        return False  # the bridge has no modem lines; pulse_reset below is its RESET

    def pulse_reset(self) -> bool:
        if self.virtual_board is None:
            return False
        self.virtual_board.press_reset()
        return True
