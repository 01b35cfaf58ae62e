# boot.py: runs first at every reset, before main.py. With updates over the air (config.ota), it picks the
# version of the project that /ota/current names and finishes a switch a power cut interrupted (mipy.ota).
try:
    from mipy import ota
    ota.boot()
    del ota
except ImportError:
    pass
