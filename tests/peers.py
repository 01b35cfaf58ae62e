"""Other people's code that tests and benchmarks run against (see ../shared/peers/README.md).

- ``peers_dir()``: MicroPython's test runner, basics tests and pyboard.py, plus MicroPython's source. Found at
  ``$MIPY_PEERS`` or ``../shared/peers`` beside the checkout; None when this machine has no copy.
- ``micropython_32bit()``: a 32-bit build of the unix port from that source, built once (about 20 s, needs
  gcc-multilib) into the user cache folder. On 32 bits every object has the size it has on an ESP32 or ESP8266,
  so heap figures measured there are a chip's; on the 64-bit port the same objects take about twice the bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import platformdirs

ROOT = Path(__file__).resolve().parent.parent
_build_lock = threading.Lock()


def peers_dir() -> Path | None:
    for candidate in (os.environ.get("MIPY_PEERS"), ROOT.parent / "shared" / "peers"):
        if candidate and (Path(candidate) / "micropython" / "tests" / "run-tests.py").is_file():
            return Path(candidate).resolve()
    return None


def gcc_m32_works() -> bool:
    try:
        result = subprocess.run(["gcc", "-m32", "-x", "c", "-", "-o", os.devnull], input=b"int main(void){return 0;}",
                                capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def micropython_32bit_unavailable() -> str | None:
    """Why the 32-bit interpreter cannot be had here, or None."""
    if os.environ.get("MIPY_MICROPYTHON_32") and Path(os.environ["MIPY_MICROPYTHON_32"]).is_file():
        return None
    peers = peers_dir()
    if peers is None or not (peers / "build-micropython-32bit.sh").is_file():
        return "no copy of ../shared/peers (MicroPython's source) on this machine"
    if sys.platform != "linux":
        return "the 32-bit build script runs on Linux"
    if not gcc_m32_works():
        return "gcc -m32 does not work here (install gcc-multilib)"
    return None


def micropython_32bit() -> Path:
    """The 32-bit unix-port interpreter, built on first use. Raises RuntimeError with the reason otherwise."""
    if os.environ.get("MIPY_MICROPYTHON_32") and Path(os.environ["MIPY_MICROPYTHON_32"]).is_file():
        return Path(os.environ["MIPY_MICROPYTHON_32"])
    reason = micropython_32bit_unavailable()
    if reason:
        raise RuntimeError(reason)
    peers = peers_dir()
    script = peers / "build-micropython-32bit.sh"
    # One build per version of the source: the script's own commit line in the README names it.
    source_id = (peers / "micropython-src" / "py" / "mpconfig.h").stat().st_mtime_ns
    target = Path(platformdirs.user_cache_dir("mipy-studio")) / "micropython-32bit" / str(source_id) / "micropython"
    with _build_lock:
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"micropython.partial-{os.getpid()}")
        result = subprocess.run(["bash", str(script), str(partial)], capture_output=True, text=True, timeout=900)
        if result.returncode != 0 or not partial.is_file():
            raise RuntimeError(f"building the 32-bit MicroPython failed: {result.stderr.strip()[-2000:]}")
        os.replace(partial, target)
    return target


def unittest_package() -> Path | None:
    """micropython-lib's unittest, which run-tests needs on the board for the tests written with it (on a real
    board: `mpremote mip install unittest`)."""
    peers = peers_dir()
    path = peers and peers / "micropython-src" / "lib" / "micropython-lib" / "python-stdlib" / "unittest" / "unittest"
    return path if path and path.is_dir() else None


def run_tests(test_dir: str = "basics", device: str | None = None, interpreter: Path | None = None,
              files: list[str] | None = None, timeout: float = 1800) -> dict[str, str]:
    """Run MicroPython's own test runner, unmodified: on a device (``-t DEVICE``, over its serial line with
    pyboard.py, as MicroPython's CI tests a real ESP32) or on a bare interpreter (the baseline).
    Returns {"basics/x.py": "pass" | "fail" | "skip"}. Raises RuntimeError when the runner itself fails."""
    import json
    import tempfile

    peers = peers_dir()
    if peers is None:
        raise RuntimeError("no copy of ../shared/peers on this machine")
    tests = peers / "micropython" / "tests"
    with tempfile.TemporaryDirectory(prefix="mipy-run-tests-") as results:
        command = [sys.executable, "run-tests.py", "-r", results]
        env = dict(os.environ)
        if device:
            command += ["-t", device]
        else:
            env["MICROPY_MICROPYTHON"] = str(interpreter)
            unittest = unittest_package()
            if unittest is not None:
                env["MICROPYPATH"] = str(unittest.parent)
                command.append("--keep-path")
        command += files if files else ["-d", test_dir]
        result = subprocess.run(command, cwd=tests, env=env, capture_output=True, text=True, timeout=timeout)
        report = Path(results) / "_results.json"
        if not report.is_file():
            raise RuntimeError(f"run-tests.py ended without results (exit {result.returncode}):\n"
                               f"{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
        return {entry[0]: entry[1] for entry in json.loads(report.read_text())["results"]}
