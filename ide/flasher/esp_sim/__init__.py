"""A simulated ESP chip: the ROM serial bootloader and esptool's flasher stub, on a pseudo-terminal.

Good enough that the real esptool runs against it unmodified; used by the tests and by ``mipy-studio esp-sim``.
Modules: :mod:`.slip` (framing), :mod:`.chips` (register model per chip), :mod:`.flash` (NOR flash in a file),
:mod:`.protocol` (ROM and stub command handling), :mod:`.server` (the pty and the chip's boot state).
"""

__all__ = ["EspSimulator"]


def __getattr__(name: str):
    # The simulator serves a pseudo-terminal (termios, tty): loaded on first use, so that importing the package
    # (the wizard does, for its "Simulated ESP32" entry) works on every platform.
    if name == "EspSimulator":
        from ide.flasher.esp_sim.server import EspSimulator
        return EspSimulator
    raise AttributeError(name)
