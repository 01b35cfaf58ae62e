"""Firmware flashing on esptool, and the simulated ESP chip used to test it."""
