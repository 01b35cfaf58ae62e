"""Will a template fit the chip? The heap each template needs on each path (connected, portal, broker down) is
measured on a 32-bit MicroPython by ``bench/heap.py`` and kept in its ``template.json`` as ``"heap"``; this
module compares the worst path with what a chip has free after boot, so the IDE can say so before anything is
uploaded. A template without figures is not judged (``check`` returns None)."""

from __future__ import annotations

import dataclasses
import json
import logging

from ide.project.templates import TEMPLATE_FILE, Template

log = logging.getLogger(__name__)

# gc.mem_free() at the REPL after boot on current MicroPython firmware (generic builds, no PSRAM).
CHIP_FREE_HEAP = {"esp8266": 30 * 1024, "esp32": 110 * 1024}
# What a template should leave free on its worst path: a larger message, a longer page, fragmentation over
# months of uptime.
HEADROOM = 4 * 1024


@dataclasses.dataclass(frozen=True)
class HeapVerdict:
    template: str
    board: str
    needs: int        # bytes of free heap the worst path needs
    worst_path: str   # "connected", "portal", "broker_down", "standalone"
    free: int         # what the chip has free after boot

    @property
    def spare(self) -> int:
        return self.free - self.needs

    @property
    def fits(self) -> bool:
        return self.spare >= 0

    @property
    def comfortable(self) -> bool:
        return self.spare >= HEADROOM

    def describe(self) -> str:
        """One sentence for a person (the wizard and ``mipy-studio new`` show it)."""
        need_kb, free_kb = round(self.needs / 1024), round(self.free / 1024)
        where = self.worst_path.replace("_", " ")
        if not self.fits:
            return (f"The {self.template} template needs about {need_kb} KB of free memory ({where}), more than "
                    f"an {self.board.upper()} has after boot (about {free_kb} KB): it will run out of memory "
                    "there. Choose a larger board or a smaller template.")
        if not self.comfortable:
            return (f"The {self.template} template needs about {need_kb} KB of free memory ({where}) of the "
                    f"about {free_kb} KB an {self.board.upper()} has: it fits, with little room for your own code.")
        return (f"The {self.template} template needs about {need_kb} KB of free memory ({where}); an "
                f"{self.board.upper()} has about {free_kb} KB.")


def measured(template: Template) -> dict[str, int]:
    """The template's measured figures, path -> bytes ({} when it has none)."""
    try:
        meta = json.loads((template.path / TEMPLATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    heap = meta.get("heap") if isinstance(meta, dict) else None
    if not isinstance(heap, dict):
        return {}
    return {str(k): int(v) for k, v in heap.items() if isinstance(v, (int, float)) and v > 0}


def check(template: Template, board: str) -> HeapVerdict | None:
    """The verdict for ``template`` on ``board`` ("esp8266", "esp32"), or None when either is not measured."""
    figures = measured(template)
    if not figures or board not in CHIP_FREE_HEAP:
        return None
    worst = max(figures, key=figures.get)
    return HeapVerdict(template.name, board, figures[worst], worst, CHIP_FREE_HEAP[board])
