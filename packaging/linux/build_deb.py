"""Package the PyInstaller bundle (dist/mipy-studio/) as a Debian package and a portable .tar.gz.

    .venv/bin/python packaging/linux/build_deb.py [--bundle dist/mipy-studio] [--out dist] [--compression xz]

(``make installer`` runs PyInstaller and then this.) Writes

    dist/mipy-studio_<version>_<arch>.deb          installs the bundle under /opt/mipy-studio
    dist/mipy-studio-<version>-linux-<machine>.tar.gz   the bundle as is, plus the .desktop file, icon and udev rule

The .deb holds:

    /opt/mipy-studio/                                   the bundle (executable + _internal/)
    /usr/bin/mipy-studio -> ../../opt/mipy-studio/mipy-studio   (relative, so it also works in a scratch root)
    /usr/share/applications/mipy-studio.desktop         menu entry
    /usr/share/icons/hicolor/<n>x<n>/apps/mipy-studio.png, scalable/apps/mipy-studio.svg
    /usr/lib/udev/rules.d/70-mipy-studio.rules          serial access for the seat user (uaccess)
    /usr/share/doc/mipy-studio/{README.Debian,copyright}

Menu and icon caches are refreshed by the dpkg triggers of desktop-file-utils and hicolor-icon-theme; the
maintainer scripts only reload udev rules (skipped when ``DPKG_ROOT`` is set: installs into another root).
Everything is owned by root (``dpkg-deb --root-owner-group``); nothing is created at run time under /opt, so
``dpkg -r`` leaves nothing behind.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PACKAGE = "mipy-studio"
INSTALL_DIR = Path("opt") / PACKAGE
ICON_DIR = ROOT / "resources" / "icons"

# Qt's xcb platform plugin loads these from the system (Debian/Ubuntu package names).
QT_XCB_DEPENDS = ("libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-render-util0",
                  "libxcb-xkb1", "libxkbcommon-x11-0", "libxcb-shape0", "libxcb-randr0", "libegl1", "libgl1",
                  "libfontconfig1")
DEFAULT_MAINTAINER = "MiPy Studio maintainers <maintainers@mipy-studio.invalid>"

POSTINST = """#!/bin/sh
# Reload udev rules so 70-mipy-studio.rules applies to boards plugged in from now on.
set -e
if [ "$1" = "configure" ] && [ -z "${DPKG_ROOT:-}" ] && command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload-rules >/dev/null 2>&1 || true
    udevadm trigger --subsystem-match=tty --action=change >/dev/null 2>&1 || true
fi
exit 0
"""

POSTRM = """#!/bin/sh
set -e
if { [ "$1" = "remove" ] || [ "$1" = "purge" ]; } && [ -z "${DPKG_ROOT:-}" ] && command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload-rules >/dev/null 2>&1 || true
fi
exit 0
"""

README_DEBIAN = """MiPy Studio for Debian and Ubuntu
=================================

The application is installed in /opt/mipy-studio (a self-contained PyInstaller bundle with its own Python,
Qt, MicroPython unix port for the virtual board, mpy-cross, esptool and MicroPython stubs). Start it from the
menu ("MiPy Studio") or run `mipy-studio` in a terminal; `mipy-studio --help` lists the commands.

Serial access to boards
-----------------------
/usr/lib/udev/rules.d/70-mipy-studio.rules gives the user logged in at the computer access to ESP boards
(CP210x, CH340/CH9102, FTDI, Espressif native USB) while they are plugged in, and keeps ModemManager away
from them. Unplug and replug a board after installing. If you use the board over SSH or on a system
without systemd-logind, join the dialout group instead and log in again:

    sudo usermod -aG dialout $USER

Removing
--------
    sudo apt remove mipy-studio     (or: sudo dpkg -r mipy-studio)

removes every installed file. Your settings (~/.config/MiPy Studio), the virtual board's files
(~/.local/share/mipy-studio) and caches (~/.cache/mipy-studio) stay in your home folder.
"""

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: mipy-studio

Files: *
License: MIT
Comment: The bundle in /opt/mipy-studio also contains third-party components under their own licences:
 CPython (PSF), Qt 6 and PyQt6 / QScintilla (GPL v3, from the PyQt6 wheels), MicroPython and mpy-cross (MIT),
 esptool (GPL v2+), jedi and parso (MIT), typeshed (Apache 2.0), pyserial (BSD), pyte (LGPL v3),
 pyqtgraph (MIT), numpy (BSD), pyflakes (MIT), platformdirs (MIT). Their licence files are in the bundle's
 *.dist-info folders.
"""


def read_version() -> str:
    text = (ROOT / "ide" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M)
    if not match:
        raise SystemExit("build_deb: no __version__ in ide/__init__.py")
    return match.group(1)


def deb_arch() -> str:
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def min_glibc(bundle: Path) -> str | None:
    """The newest GLIBC_x.y symbol version any ELF file in the bundle needs (for Depends: libc6 (>= x.y))."""
    if not shutil.which("objdump"):
        return None
    best: tuple[int, ...] = ()
    for path in bundle.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                continue
        out = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True).stdout
        for version in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", out):
            best = max(best, tuple(int(p) for p in version.split(".")))
    return ".".join(map(str, best)) if best else None


def normalise_modes(root: Path) -> None:
    """Directories 0755, files 0755 if executable else 0644 (the wheels' odd modes, umask differences)."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            path.chmod(0o755 if mode & 0o111 else 0o644)


def dir_size_kib(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += (path.stat().st_size + 1023) // 1024
    return total


def stage(bundle: Path, staging: Path, version: str, arch: str, maintainer: str) -> None:
    if staging.exists():
        shutil.rmtree(staging)
    target = staging / INSTALL_DIR
    shutil.copytree(bundle, target, symlinks=True)
    bin_dir = staging / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / PACKAGE).symlink_to(Path("..") / ".." / INSTALL_DIR / PACKAGE)

    share = staging / "usr" / "share"
    (share / "applications").mkdir(parents=True)
    shutil.copyfile(HERE / "mipy-studio.desktop", share / "applications" / "mipy-studio.desktop")
    hicolor = share / "icons" / "hicolor"
    for size in (16, 32, 48, 128, 256, 512):
        source = ICON_DIR / ("mipy-studio.png" if size == 256 else f"mipy-studio-{size}.png")
        folder = hicolor / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True)
        shutil.copyfile(source, folder / "mipy-studio.png")
    (hicolor / "scalable" / "apps").mkdir(parents=True)
    shutil.copyfile(ICON_DIR / "mipy-studio.svg", hicolor / "scalable" / "apps" / "mipy-studio.svg")
    (share / "pixmaps").mkdir()
    shutil.copyfile(ICON_DIR / "mipy-studio.png", share / "pixmaps" / "mipy-studio.png")

    rules = staging / "usr" / "lib" / "udev" / "rules.d"
    rules.mkdir(parents=True)
    shutil.copyfile(HERE / "70-mipy-studio.rules", rules / "70-mipy-studio.rules")

    doc = share / "doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "README.Debian").write_text(README_DEBIAN, encoding="utf-8")
    (doc / "copyright").write_text(COPYRIGHT, encoding="utf-8")

    normalise_modes(staging)

    debian = staging / "DEBIAN"
    debian.mkdir()
    depends = list(QT_XCB_DEPENDS)
    glibc = min_glibc(target)
    if glibc:
        depends.insert(0, f"libc6 (>= {glibc})")
    control = (
        f"Package: {PACKAGE}\n"
        f"Version: {version}\n"
        f"Architecture: {arch}\n"
        f"Maintainer: {maintainer}\n"
        f"Installed-Size: {dir_size_kib(staging)}\n"
        f"Depends: {', '.join(depends)}\n"
        "Suggests: udev\n"
        "Section: devel\n"
        "Priority: optional\n"
        "Description: IDE for ESP8266 and ESP32 boards running MicroPython\n"
        " MiPy Studio edits, runs and deploys MicroPython code on ESP8266/ESP32 boards over\n"
        " USB serial: editor with completion for the boards' modules, REPL console, file\n"
        " browser, plotter, firmware flasher (esptool) and a virtual board (the MicroPython\n"
        " unix port) for working without hardware.\n"
        " .\n"
        " This package installs a self-contained bundle in /opt/mipy-studio.\n"
    )
    (debian / "control").write_text(control, encoding="utf-8")
    for name, text in (("postinst", POSTINST), ("postrm", POSTRM)):
        (debian / name).write_text(text, encoding="utf-8")
        (debian / name).chmod(0o755)
    sums = []
    for path in sorted(staging.rglob("*")):
        if path.is_file() and not path.is_symlink() and "DEBIAN" not in path.relative_to(staging).parts:
            digest = hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - dpkg's md5sums format
            sums.append(f"{digest}  {path.relative_to(staging).as_posix()}\n")
    (debian / "md5sums").write_text("".join(sums), encoding="utf-8")
    (debian / "md5sums").chmod(0o644)
    (debian / "control").chmod(0o644)


def build_deb(staging: Path, out: Path, compression: str) -> None:
    command = ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(staging), str(out)]
    if compression == "xz":
        command.insert(2, "-z6")
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def build_tarball(bundle: Path, out: Path, version: str) -> None:
    """The bundle in mipy-studio-<version>/, plus linux/ with what the .deb would install system-wide."""
    top = f"{PACKAGE}-{version}"
    staging = out.parent / f".tar-staging-{top}"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(bundle, staging / top, symlinks=True)
    extras = staging / top / "linux"
    extras.mkdir()
    shutil.copyfile(HERE / "mipy-studio.desktop", extras / "mipy-studio.desktop")
    shutil.copyfile(HERE / "70-mipy-studio.rules", extras / "70-mipy-studio.rules")
    shutil.copyfile(ICON_DIR / "mipy-studio.png", extras / "mipy-studio.png")
    (extras / "README.txt").write_text(
        "Portable MiPy Studio: run ./mipy-studio from this folder (nothing to install).\n"
        "Optional, system-wide (as root):\n"
        "  ln -s \"$PWD/mipy-studio\" /usr/local/bin/mipy-studio\n"
        "  cp linux/mipy-studio.desktop /usr/local/share/applications/\n"
        "  cp linux/mipy-studio.png /usr/local/share/icons/hicolor/256x256/apps/\n"
        "  cp linux/70-mipy-studio.rules /etc/udev/rules.d/ && udevadm control --reload-rules\n"
        "Serial access without the udev rule: sudo usermod -aG dialout $USER, then log in again.\n"
        "Qt needs these system libraries (Debian/Ubuntu names): " + " ".join(QT_XCB_DEPENDS) + "\n",
        encoding="utf-8")
    normalise_modes(staging)
    subprocess.run(["tar", "--owner=0", "--group=0", "--numeric-owner", "-czf", str(out), "-C", str(staging), top],
                   check=True)
    shutil.rmtree(staging)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / PACKAGE)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "deb")
    parser.add_argument("--compression", default=os.environ.get("DEB_COMPRESSION", "xz"),
                        choices=["xz", "gzip", "zstd", "none"])
    parser.add_argument("--maintainer", default=os.environ.get("DEB_MAINTAINER", DEFAULT_MAINTAINER))
    parser.add_argument("--no-tarball", action="store_true")
    args = parser.parse_args(argv)

    if not (args.bundle / PACKAGE).is_file():
        raise SystemExit(f"build_deb: no bundle at {args.bundle}: run pyinstaller build_installer.spec first")
    if not shutil.which("dpkg-deb"):
        raise SystemExit("build_deb: dpkg-deb not found (Debian/Ubuntu only)")
    version, arch = read_version(), deb_arch()
    args.out.mkdir(parents=True, exist_ok=True)

    start = time.monotonic()
    staging = args.work / f"{PACKAGE}_{version}_{arch}"
    stage(args.bundle, staging, version, arch, args.maintainer)
    deb = args.out / f"{PACKAGE}_{version}_{arch}.deb"
    build_deb(staging, deb, args.compression)
    shutil.rmtree(staging)
    print(f"{deb}  {deb.stat().st_size / 1e6:.1f} MB  ({time.monotonic() - start:.1f} s)")
    if not args.no_tarball:
        start = time.monotonic()
        tarball = args.out / f"{PACKAGE}-{version}-linux-{platform.machine()}.tar.gz"
        build_tarball(args.bundle, tarball, version)
        print(f"{tarball}  {tarball.stat().st_size / 1e6:.1f} MB  ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
