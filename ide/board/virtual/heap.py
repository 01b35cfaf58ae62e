"""A heap like a chip's, on whatever interpreter runs the board.

ESP32 and ESP8266 are 32-bit. The unix port we ship is 64-bit, where every object takes about twice the bytes
(measured on the same MicroPython commit, 300 small dicts: 40,480 B on 32 bits, 80,960 B on 64), because a heap
block is four machine words (MICROPY_BYTES_PER_GC_BLOCK) and most objects are a few words. Bytes of data (a
bytearray, the characters of a string) take the same room on both, so the ratio depends on the program: measured
here on our templates' framework, 1.66 for its bytecode and objects, 2.0 for dicts, lists and instances, 1.16 for
buffers. We take 1.8.

How the virtual board uses it:
- on a 32-bit interpreter (``--interpreter``, e.g. the build made by ../shared/peers/build-micropython-32bit.sh)
  the heap is the chip's free heap plus what the board's own start-up keeps allocated, and every figure is exact;
- on a 64-bit interpreter the chip's free heap is scaled by the ratio, and gc.mem_free()/gc.mem_alloc() report
  back in a chip's bytes (divided by the ratio, _vbgc.py), so "110 KB free" means what it means on a chip,
  as an estimate. `mipy-studio info` says which of the two a board runs.

What the board's start-up keeps allocated at the prompt (BOOT_ALLOC): the hardware shims (machine, network...:
on a chip these are C code in flash, here .mpy modules loaded into the heap at boot), the VFS wrapper, the sys
and gc wrappers. Measured with micropython.mem_info() at the prompt after boot (64-bit: 78.5 KB, 32-bit:
51.5 KB), rounded up; tests/test_virtual_board_chip.py checks that the free heap a program sees stays near the
chip's.
"""

from __future__ import annotations

import functools
import logging
import subprocess

log = logging.getLogger(__name__)

RATIO_64_TO_32 = 1.8
# gc.mem_alloc() at the prompt after the virtual board's boot, before any program runs, by pointer size.
BOOT_ALLOC = {32: 53 * 1024, 64: 80 * 1024}


@functools.lru_cache(maxsize=16)
def pointer_bits(command: tuple[str, ...]) -> int:
    """32 or 64: the interpreter's word size (sys.maxsize), asked once per interpreter."""
    try:
        result = subprocess.run(list(command) + ["-c", "import sys; print(32 if sys.maxsize < 1 << 32 else 64)"],
                                capture_output=True, text=True, timeout=30)
        return 32 if result.stdout.strip() == "32" else 64
    except (OSError, subprocess.TimeoutExpired, ValueError) as error:
        log.warning("could not ask the interpreter its word size (%s); assuming 64-bit", error)
        return 64


def scale_for(bits: int) -> float:
    """Interpreter bytes per chip byte."""
    return 1.0 if bits == 32 else RATIO_64_TO_32


# The shims' names are ~600 dynamic qstrs here (a chip has its modules' names in ROM), so the next qstr pool a
# program's new names need is one block of ~640 entries (pools double), where a chip's first is tiny: 4.5 KB on
# 32 bits, 7 KB on 64. The heap keeps that much more, and gc.mem_free() leaves it out (_vbgc.py), so a program
# sees a chip's free heap and its first new names do not fail for want of one big block. After that pool is
# taken, mem_free() under-reports by up to this much.
QSTR_POOL_RESERVE = {32: 5 * 1024, 64: 8 * 1024}


def heap_size(chip_free_after_boot: int, bits: int) -> int:
    """The interpreter heap that leaves a program about ``chip_free_after_boot`` chip bytes."""
    return int(BOOT_ALLOC[bits] + QSTR_POOL_RESERVE[bits] + chip_free_after_boot * scale_for(bits))
