"""MiPy Studio: a desktop IDE for ESP8266 and ESP32 boards running MicroPython.

``ide`` is the Qt-free core; only ``ide.ui`` imports Qt."""

__version__ = "0.1.0"
