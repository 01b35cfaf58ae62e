"""Startup time: process start to a titled main window on the X display, median of several runs, each from an
empty home folder (a first start: no settings, no caches).

The window is found from outside, the same way for every program measured: ``xdotool search --name`` polled
every 10 ms until a window with the title exists. Run under Xvfb::

    Xvfb :93 -screen 0 1280x800x24 &  DISPLAY=:93 python bench/startup.py [--thonny PATH/TO/thonny] [--runs 6]

``--thonny`` measures Thonny the same way, run for run (alternating, so both see the same machine load). A
warm-up run of each program goes first: Python compiles a package's modules to bytecode once, at install time
for installed programs, so the runs measured find the bytecode, as a user's second start of anything does (the
home folder is still empty each time). Without DISPLAY or xdotool it falls back to the offscreen platform and
times the window from inside (shown, then a zero-delay timer).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 6
TARGET_S = 2.0
POLL_S = 0.01
TIMEOUT_S = 30

CHILD = r"""
import sys, time
from PyQt6.QtCore import QTimer
from ide.ui.app import create_app, create_window
app = create_app([])
window = create_window()
QTimer.singleShot(0, lambda: (print("SHOWN", time.time() - float(sys.argv[1])), app.quit()))
app.exec()
window.shutdown()
"""


def _env(home: str, pycache: str) -> dict:
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
               XDG_CACHE_HOME=os.path.join(home, ".cache"), XDG_DATA_HOME=os.path.join(home, ".local", "share"),
               PYTHONPYCACHEPREFIX=pycache,
               # Thonny in a venv keeps its settings in the venv, not the home folder: point it at the fresh one.
               THONNY_USER_DIR=os.path.join(home, ".config", "Thonny"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("MIPY_STUDIO_SETTINGS", None)
    return env


def _thonny_configured(home: str) -> None:
    """Thonny shows a first-run dialog (language, settings) instead of its window when it finds no
    configuration file; an empty one makes it open its main window, as on every later start."""
    folder = os.path.join(home, ".config", "Thonny")
    os.makedirs(folder)
    with open(os.path.join(folder, "configuration.ini"), "w", encoding="utf-8") as f:
        f.write("[general]\n")


def time_to_window(command: list[str], title: str, pycache: str, prepare=None) -> float:
    """Seconds from starting ``command`` (fresh home) until a window titled ``title`` is on the display; a
    title starting with "class:" matches the window class instead (Thonny's first-run dialog has no title)."""
    search = ["--class", title[6:]] if title.startswith("class:") else ["--name", title]
    with tempfile.TemporaryDirectory() as home:
        if prepare is not None:
            prepare(home)
        start = time.monotonic()
        process = subprocess.Popen(command, env=_env(home, pycache), cwd=home, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            while time.monotonic() - start < TIMEOUT_S:
                found = subprocess.run(["xdotool", "search", "--onlyvisible", *search],
                                       capture_output=True, text=True)
                if found.stdout.strip():
                    return time.monotonic() - start
                if process.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited with {process.returncode} before its window showed")
                time.sleep(POLL_S)
            raise RuntimeError(f"no window titled {title!r} after {TIMEOUT_S} s")
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def offscreen_run() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MIPY_STUDIO_SETTINGS=os.path.join(tmp, "settings.ini"),
                   MIPY_STUDIO_RECOVERY_DIR=os.path.join(tmp, "recovery"), QT_QPA_PLATFORM="offscreen")
        start = time.time()
        out = subprocess.run([sys.executable, "-c", CHILD, repr(start)], capture_output=True, text=True, env=env,
                             timeout=60, cwd=tmp)
    for line in out.stdout.splitlines():
        if line.startswith("SHOWN "):
            return float(line.split()[1])
    raise RuntimeError(f"the window did not show:\n{out.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--thonny", help="a Thonny executable to measure the same way, run for run")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY") or not shutil.which("xdotool"):
        times = [offscreen_run() for _ in range(args.runs)]
        median = statistics.median(times)
        print("offscreen (no DISPLAY or xdotool): " + ", ".join(f"{t:.2f} s" for t in times))
        print(f"startup median: {median:.2f} s (target < {TARGET_S:.0f} s) on {os.cpu_count()} CPUs")
        return 0 if median < TARGET_S else 1
    # name -> (command, window to wait for, home folder preparation)
    programs = {"MiPy Studio": ([sys.executable, "-m", "ide"], "MiPy Studio", None)}
    if args.thonny:
        programs["Thonny (main window)"] = ([args.thonny], "Thonny", _thonny_configured)
        programs["Thonny (first-run dialog, empty home)"] = ([args.thonny], "class:thonny", None)
    results: dict[str, list[float]] = {name: [] for name in programs}
    with tempfile.TemporaryDirectory() as pycache:
        for command, title, prepare in programs.values():
            time_to_window(command, title, pycache, prepare)  # warm-up: writes the bytecode (see the module doc)
        for _ in range(args.runs):
            for name, (command, title, prepare) in programs.items():
                results[name].append(time_to_window(command, title, pycache, prepare))
    for name, times in results.items():
        print(f"{name}: median {statistics.median(times):.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})")
    median = statistics.median(results["MiPy Studio"])
    print(f"target < {TARGET_S:.0f} s" + (", and faster than Thonny" if args.thonny else "") +
          f"; {os.cpu_count()} CPUs, fresh home folder each run")
    ok = median < TARGET_S and (not args.thonny or median < statistics.median(results["Thonny (main window)"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
