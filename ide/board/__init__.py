"""Board connection: port discovery, serial link, the MicroPython REPL protocol, the virtual board."""
