"""Qt-free language services for the editor and the command line: completion (jedi + MicroPython stubs), lint
(pyflakes), the plotter's line parser and the device traceback parser. Nothing here imports Qt."""
