"""Errors of the firmware flasher. Facts live on attributes; explanations for people are in
:mod:`ide.flasher.messages`. esptool's ``FatalError`` and pyserial's ``SerialException`` are wrapped where they
enter (:mod:`ide.flasher.flash`), with the original kept as ``__cause__``."""

from __future__ import annotations

from ide.errors import FlasherError


# --- refusing an image before anything is written ------------------------------------------------------------


class ImageRejected(FlasherError):
    """The firmware file cannot be written to this board. ``path`` is the file when there is one."""

    path: str | None = None


class NotAnEspImage(ImageRejected):
    """The file does not start with an ESP image header. ``first_bytes`` are what it starts with."""

    def __init__(self, first_bytes: bytes, path: str | None = None):
        self.first_bytes = first_bytes
        self.path = path
        super().__init__(f"not an ESP firmware image (starts with {first_bytes[:8].hex(' ') or 'nothing'})")


class ImageChipMismatch(ImageRejected):
    """The image was built for ``image_chip`` but the board is ``detected_chip`` (display names, "ESP32-C3")."""

    def __init__(self, image_chip: str, detected_chip: str, path: str | None = None):
        self.image_chip = image_chip
        self.detected_chip = detected_chip
        self.path = path
        super().__init__(f"image is for {image_chip}, board is {detected_chip}")


class ImageTooLarge(ImageRejected):
    """``image_size`` bytes written at ``offset`` do not fit in ``flash_size`` bytes of flash."""

    def __init__(self, image_size: int, flash_size: int, offset: int = 0, path: str | None = None):
        self.image_size = image_size
        self.flash_size = flash_size
        self.offset = offset
        self.path = path
        super().__init__(f"image of {image_size} bytes at 0x{offset:x} exceeds {flash_size} bytes of flash")


class TruncatedImage(ImageRejected):
    """The file ends before the image it describes: ``expected_size`` bytes needed (None when the header is cut
    too short to tell), ``actual_size`` present; ``what`` names the image inside the file that is cut."""

    def __init__(self, expected_size: int | None, actual_size: int, path: str | None = None,
                 what: str = "firmware image"):
        self.expected_size = expected_size
        self.actual_size = actual_size
        self.path = path
        self.what = what
        needs = f"needs {expected_size} bytes, " if expected_size is not None else ""
        super().__init__(f"{what} truncated: {needs}file has {actual_size}")


class DamagedImage(ImageRejected):
    """An image inside the file fails its own integrity check: ``check`` is "checksum" or "SHA-256", ``stored`` is
    what the image says, ``computed`` what its bytes give; ``what`` names the image ("application ...")."""

    def __init__(self, path: str | None, what: str, check: str, stored: str, computed: str):
        self.path = path
        self.what = what
        self.check = check
        self.stored = stored
        self.computed = computed
        super().__init__(f"{what}: {check} is {stored}, the data gives {computed}")


class ImageRevisionMismatch(ImageRejected):
    """The image needs a chip revision between ``min_revision`` and ``max_revision`` (major * 100 + minor; None:
    no bound) and the board's ``chip`` is revision ``chip_revision``."""

    def __init__(self, path: str | None, chip: str, chip_revision: int, min_revision: int | None,
                 max_revision: int | None):
        self.path = path
        self.chip = chip
        self.chip_revision = chip_revision
        self.min_revision = min_revision
        self.max_revision = max_revision
        super().__init__(f"image needs revision {min_revision}..{max_revision}, {chip} is {chip_revision}")


class ApplicationAtBootloaderOffset(ImageRejected):
    """The file is an application image alone (no bootloader, no partition table); written at the chip's
    ``bootloader_offset`` it would replace the bootloader."""

    def __init__(self, path: str | None, chip: str, bootloader_offset: int):
        self.path = path
        self.chip = chip
        self.bootloader_offset = bootloader_offset
        super().__init__(f"application image at the {chip} bootloader offset 0x{bootloader_offset:x}")


class MergedImageAtAppOffset(ImageRejected):
    """The file starts with a bootloader (a full firmware) but was to be written at ``offset``, not at the chip's
    ``bootloader_offset``."""

    def __init__(self, path: str | None, chip: str, offset: int, bootloader_offset: int):
        self.path = path
        self.chip = chip
        self.offset = offset
        self.bootloader_offset = bootloader_offset
        super().__init__(f"full firmware image at 0x{offset:x}; it belongs at 0x{bootloader_offset:x}")


class BackupMismatch(FlasherError):
    """A backup cannot go back onto this board: ``field`` ("chip", "flash size" or "MAC") is ``expected`` in the
    backup's sidecar and ``actual`` on the board. ``path`` is the backup file."""

    def __init__(self, path: str, field: str, expected: str, actual: str):
        self.path = path
        self.field = field
        self.expected = expected
        self.actual = actual
        super().__init__(f"{path}: backup {field} {expected}, board {actual}")


class BackupUnreadable(FlasherError):
    """The backup file or its sidecar (``path``) is missing or malformed (``detail``)."""

    def __init__(self, path: str, detail: str):
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")


class ChipNotSupported(FlasherError):
    """esptool found ``chip`` (its name), for which MicroPython publishes no firmware."""

    def __init__(self, chip: str):
        self.chip = chip
        super().__init__(f"{chip} has no MicroPython firmware")


# --- talking to the chip -------------------------------------------------------------------------------------


class ChipNotInBootMode(FlasherError):
    """Nothing answered the bootloader's SYNC on ``port``. ``seen`` holds any bytes that came instead (a boot
    message means the chip runs its firmware rather than waiting for download)."""

    def __init__(self, port: str, seen: bytes = b""):
        self.port = port
        self.seen = seen
        super().__init__(f"no ESP bootloader answered on {port}")


class ChipCommunicationError(FlasherError):
    """The bootloader answered, then the conversation failed (``operation`` names the step)."""

    def __init__(self, port: str, operation: str, detail: str = ""):
        self.port = port
        self.operation = operation
        self.detail = detail
        super().__init__(f"{operation} failed on {port}" + (f": {detail}" if detail else ""))


class FlashWriteFailed(ChipCommunicationError):
    """The chip reported that writing its flash failed at ``offset`` (the start of the write)."""

    def __init__(self, port: str, offset: int, detail: str = ""):
        self.offset = offset
        super().__init__(port, f"writing flash at 0x{offset:x}", detail)


class VerifyFailed(FlasherError):
    """What was read back from flash differs from what was written (MD5 ``expected`` vs ``actual``)."""

    def __init__(self, offset: int, expected: str, actual: str):
        self.offset = offset
        self.expected = expected
        self.actual = actual
        super().__init__(f"flash at 0x{offset:x} reads back as {actual}, expected {expected}")


class FirmwareDidNotStart(FlasherError):
    """Flashing succeeded, but no MicroPython REPL answered on ``port`` after the reset. ``seen`` holds what the
    board printed meanwhile (empty when it stayed silent)."""

    def __init__(self, port: str, seen: bytes = b""):
        self.port = port
        self.seen = seen
        super().__init__(f"no MicroPython REPL on {port} after flashing")


class ChipMismatch(FlasherError):
    """The user named ``requested_chip`` but the board is ``detected_chip``."""

    def __init__(self, requested_chip: str, detected_chip: str):
        self.requested_chip = requested_chip
        self.detected_chip = detected_chip
        super().__init__(f"asked for {requested_chip}, found {detected_chip}")


class NoFileSystemRegion(FlasherError):
    """The flash has no recognisable file system partition to erase (``reason`` says why)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


# --- the firmware catalog ------------------------------------------------------------------------------------


class CatalogError(FlasherError):
    """The firmware catalog file is unreadable or malformed (``path``, ``detail``)."""

    def __init__(self, path: str, detail: str):
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")


class FirmwareNotInCatalog(FlasherError):
    def __init__(self, chip: str, variant: str | None = None):
        self.chip = chip
        self.variant = variant
        super().__init__(f"no catalog firmware for {chip}" + (f" variant {variant}" if variant else ""))


class DownloadFailed(FlasherError):
    """Fetching ``url`` failed (``status`` is the HTTP status when there was one)."""

    def __init__(self, url: str, detail: str = "", status: int | None = None):
        self.url = url
        self.detail = detail
        self.status = status
        super().__init__(f"download of {url} failed" + (f": {detail}" if detail else ""))


class DownloadChecksumMismatch(FlasherError):
    """The downloaded file's SHA-256 is not the published one."""

    def __init__(self, url: str, expected_sha256: str, actual_sha256: str):
        self.url = url
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256
        super().__init__(f"{url}: SHA-256 {actual_sha256}, expected {expected_sha256}")
