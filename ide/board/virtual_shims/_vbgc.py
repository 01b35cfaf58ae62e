# `gc` as a program on the virtual board sees it (MicroPython code; the start-up script puts this module in
# sys.modules["gc"]). mem_free() and mem_alloc() answer in a chip's bytes:
# - what the board's own start-up keeps allocated (the hardware shims, which a chip has in flash) is not counted
#   as the program's (_base);
# - on a 64-bit interpreter objects take about _scale times the bytes they take on a 32-bit chip and the heap is
#   that much bigger (ide/board/virtual/heap.py), so figures are scaled back: estimates. A 32-bit interpreter
#   (`--interpreter`) has _scale 1 and exact figures.
import gc as _real

for _name in dir(_real):
    if _name not in ("__name__", "__dict__", "__class__"):
        globals()[_name] = getattr(_real, _name)
__name__ = "gc"
_scale = 1.0  # set by the start-up script
_base = 0
_reserve = 0  # bytes kept for the next qstr pool (ide/board/virtual/heap.py QSTR_POOL_RESERVE)


def mem_free(_real_free=_real.mem_free):
    return int(max(0, _real_free() - _reserve) / _scale)


def mem_alloc(_real_alloc=_real.mem_alloc):
    return int(max(0, _real_alloc() - _base) / _scale)


del _name, _real
