# `os` for the virtual board: the built-in module with a working rename().
#
# MicroPython's VfsPosix with a root folder (how the board's "/" and "/__vb_state__" are mounted) resolves
# both rename() paths into one shared buffer (extmod/vfs_posix.c, vfs_posix_get_path_str), so rename(a, b)
# becomes rename(b, b) and fails with ENOENT. Until that is fixed upstream, rename falls back to copy + remove
# (the data is written with one write(), small files appear whole).
from uos import *  # noqa: F401,F403  (extends the built-in module)
import uos as _os


def rename(src, dst):
    try:
        _os.rename(src, dst)
    except OSError as e:
        if e.errno != 2:
            raise
        _os.stat(src)  # really missing: raise ENOENT as the chip does
        with open(src, "rb") as f:
            data = f.read()
        with open(dst, "wb") as f:
            f.write(data)
        _os.remove(src)
