"""Errors of many-board jobs and of updates over the air. Facts on attributes; words in :mod:`ide.fleet.messages`."""

from __future__ import annotations

from ide.errors import MipyError


class FleetError(MipyError):
    """Root of the errors of this area."""


class NoBoardsFound(FleetError):
    """``--all-boards`` found no port that looks like an ESP board and no named virtual board."""


class DuplicateBoard(FleetError):
    """The same board (``port``) was named twice: two workers cannot share one serial port."""

    def __init__(self, port: str):
        self.port = port
        super().__init__(f"{port} given twice")


class FlashWorkerDied(FleetError):
    """The process flashing ``port`` ended without a result (``exitcode``; ``detail`` when it said something)."""

    def __init__(self, port: str, exitcode: int | None, detail: str = ""):
        self.port = port
        self.exitcode = exitcode
        self.detail = detail
        super().__init__(f"flash worker for {port} ended (exit code {exitcode}) {detail}".strip())


class OtaError(FleetError):
    """Root of the update-over-the-air errors."""


class BrokerUnreachable(OtaError):
    """The MQTT broker at ``host``:``port`` did not accept our connection; ``detail`` says why."""

    def __init__(self, host: str, port: int, detail: str = ""):
        self.host = host
        self.port = port
        self.detail = detail
        super().__init__(f"MQTT broker {host}:{port} unreachable" + (f": {detail}" if detail else ""))


class NoOtaKey(OtaError):
    """The project has no OTA key yet (``path``): it is made at the first USB deploy, which also gives it to the
    board."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(f"no OTA key at {path}")


class DeviceNotFound(OtaError):
    """No device of project ``project`` called ``name`` (None: none at all) has reported to the broker; ``known``
    lists those that have."""

    def __init__(self, name: str | None, known: list[str] | None = None, project: str | None = None):
        self.name = name
        self.known = list(known or [])
        self.project = project
        super().__init__(f"no OTA device {name or '(any)'!r} of {project or 'any project'} on the broker")


class ManifestTooLarge(OtaError):
    """The project's file list (``size`` bytes) exceeds what a device accepts (``limit``)."""

    def __init__(self, size: int, limit: int):
        self.size = size
        self.limit = limit
        super().__init__(f"manifest of {size} bytes exceeds {limit}")


class OtaRefused(OtaError):
    """Device ``device`` refused or failed the update: ``state`` is its word for it ("refused", "failed",
    "rolled-back"), ``why`` its reason ("bad signature", "no space: ...")."""

    def __init__(self, device: str, state: str, why: str):
        self.device = device
        self.state = state
        self.why = why
        super().__init__(f"{device}: {state}: {why}")


class OtaTimedOut(OtaError):
    """Device ``device`` did not finish the update within ``seconds``; ``last_state`` is what it said last."""

    def __init__(self, device: str, seconds: float, last_state: str = ""):
        self.device = device
        self.seconds = seconds
        self.last_state = last_state
        super().__init__(f"{device}: no result in {seconds:g} s (last state: {last_state or 'nothing heard'})")
