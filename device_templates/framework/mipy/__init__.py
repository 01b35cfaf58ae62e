# MiPy framework package (installed on the board as /lib/mipy/). See device_templates/README.md.
