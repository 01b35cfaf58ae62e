"""Draw the MiPy Studio application icon and write it in every format the installers need.

    .venv/bin/python packaging/make_icons.py      (writes resources/icons/, which is committed)

The icon is a hand-written SVG (a dark-teal rounded square with a white chip outline and a ">>>" prompt, the
MicroPython REPL) rendered with Qt (offscreen, no display needed) to PNGs, then packed by hand into
``mipy-studio.ico`` (Windows; PNG-compressed entries, supported since Windows Vista) and ``mipy-studio.icns``
(macOS; PNG entries ic07..ic10). No Pillow needed.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6.QtCore import QBuffer, QByteArray, QIODevice, Qt  # noqa: E402
from PyQt6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PyQt6.QtSvg import QSvgRenderer  # noqa: E402

ICON_DIR = Path(__file__).resolve().parents[1] / "resources" / "icons"
NAME = "mipy-studio"

# 256x256 design grid.
SVG = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#1f8a8a"/>
      <stop offset="1" stop-color="#0d4f5c"/>
    </linearGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="44" ry="44" fill="url(#bg)"/>
  <!-- chip body with pins -->
  <g stroke="#ffffff" stroke-width="10" stroke-linecap="round" fill="none">
    <rect x="58" y="58" width="140" height="140" rx="14" ry="14"/>
    <line x1="88" y1="30" x2="88" y2="52"/><line x1="128" y1="30" x2="128" y2="52"/>
    <line x1="168" y1="30" x2="168" y2="52"/>
    <line x1="88" y1="204" x2="88" y2="226"/><line x1="128" y1="204" x2="128" y2="226"/>
    <line x1="168" y1="204" x2="168" y2="226"/>
    <line x1="30" y1="88" x2="52" y2="88"/><line x1="30" y1="128" x2="52" y2="128"/>
    <line x1="30" y1="168" x2="52" y2="168"/>
    <line x1="204" y1="88" x2="226" y2="88"/><line x1="204" y1="128" x2="226" y2="128"/>
    <line x1="204" y1="168" x2="226" y2="168"/>
  </g>
  <!-- the REPL prompt -->
  <g stroke="#ffd43b" stroke-width="11" stroke-linecap="round" stroke-linejoin="round" fill="none">
    <polyline points="80,104 100,124 80,144"/>
    <polyline points="112,104 132,124 112,144"/>
    <polyline points="144,104 164,124 144,144"/>
  </g>
  <line x1="84" y1="170" x2="172" y2="170" stroke="#ffffff" stroke-width="10" stroke-linecap="round"/>
</svg>
"""

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS entry types holding PNG data, by pixel size.
ICNS_TYPES = ((b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256), (b"ic09", 512))


def render_png(renderer: QSvgRenderer, size: int) -> bytes:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data)


def make_ico(pngs: dict[int, bytes]) -> bytes:
    header = struct.pack("<HHH", 0, 1, len(ICO_SIZES))
    offset = 6 + 16 * len(ICO_SIZES)
    entries, blobs = b"", b""
    for size in ICO_SIZES:
        blob = pngs[size]
        dim = 0 if size >= 256 else size  # 0 means 256
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(blob), offset + len(blobs))
        blobs += blob
    return header + entries + blobs


def make_icns(pngs: dict[int, bytes]) -> bytes:
    body = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - needed for QImage text
    renderer = QSvgRenderer(QByteArray(SVG.encode()))
    if not renderer.isValid():
        raise SystemExit("the icon SVG does not parse")
    ICON_DIR.mkdir(parents=True, exist_ok=True)
    (ICON_DIR / f"{NAME}.svg").write_text(SVG, encoding="utf-8")
    pngs = {size: render_png(renderer, size) for size in PNG_SIZES}
    (ICON_DIR / f"{NAME}.png").write_bytes(pngs[256])
    for size in (16, 32, 48, 128, 512):
        (ICON_DIR / f"{NAME}-{size}.png").write_bytes(pngs[size])
    (ICON_DIR / f"{NAME}.ico").write_bytes(make_ico(pngs))
    (ICON_DIR / f"{NAME}.icns").write_bytes(make_icns(pngs))
    for path in sorted(ICON_DIR.iterdir()):
        print(f"{path.stat().st_size:>8}  {path.relative_to(ICON_DIR.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
