"""mip packages installed from this computer, against a local index in micropython-lib's layout (tests/mip_index.py)
served over real HTTP, onto the virtual board (the real MicroPython unix port); compared with mpremote's mip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ide.filebrowser.board_fs import BoardFS
from ide.packages import install as mip
from ide.packages.errors import (PackageFetchError, PackageHashMismatch, PackageNotFound, PackageNotInstalled,
                                 PackageSpecError)
from ide.packages.index import PackageIndex, parse_spec, rewrite_url
from ide.project.project import load_project
from ide.project.run_project import deploy
from tests.conftest import needs_virtual_board
from tests.mip_index import UTIL_V1, IndexServer, build_demo_index

pytestmark = needs_virtual_board
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("mip") / "index"
    builder = build_demo_index(root)
    server = IndexServer(root)
    yield server, builder
    server.stop()


@pytest.fixture
def index(demo_index, tmp_path) -> PackageIndex:
    return PackageIndex(demo_index[0].url, cache=tmp_path / "mip-cache", timeout=5)


@pytest.fixture
def fs(board) -> BoardFS:
    return BoardFS(board)


def files_under(folder: Path, skip_records: bool = True) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not (skip_records and ".dist-info" in p.as_posix())}


def published(builder, variant: str, name: str, version: str = "latest") -> dict[str, bytes]:
    """What the index says the package holds: {path: bytes} from its file store."""
    package = json.loads((builder.root / "package" / variant / name / f"{version}.json").read_text())
    return {path: (builder.root / "file" / short[:2] / short).read_bytes() for path, short in package["hashes"]}


def test_install_picks_mpy_resolves_dependencies_and_imports(fs, board, board_dir, index, demo_index):
    _server, builder = demo_index
    report = mip.install(fs, ["mipy-demo-sensor"], index)
    assert [(p.name, p.version, p.variant, p.required_by) for p in report.packages] == [
        ("mipy-demo-sensor", "0.2", builder.mpy, None), ("mipy-demo-util", "1.0", builder.mpy, "mipy-demo-sensor")]
    expected = {**published(builder, builder.mpy, "mipy-demo-sensor"), **published(builder, builder.mpy,
                                                                                    "mipy-demo-util")}
    assert set(expected) == {"demo_sensor/__init__.mpy", "demo_sensor/core.mpy", "demo_util.mpy"}
    assert files_under(board_dir / "lib") == expected
    assert board.exec("import demo_sensor\nprint(demo_sensor.read())").strip() == b"42"
    listed = mip.list_installed(fs)
    assert [(p.name, p.version, sorted(p.files)) for p in listed] == [
        ("mipy-demo-sensor", "0.2", ["/lib/demo_sensor/__init__.mpy", "/lib/demo_sensor/core.mpy"]),
        ("mipy-demo-util", "1.0", ["/lib/demo_util.mpy"])]
    assert listed[0].summary == "Reads a pretend sensor"
    # The same again: every file is already there with the same bytes, nothing is sent.
    again = mip.install(fs, ["mipy-demo-sensor"], index)
    assert again.written == [] and again.bytes_sent == 0 and len(again.unchanged) == 7


def test_source_variant_and_single_file(fs, board_dir, index, demo_index):
    server, builder = demo_index
    mip.install(fs, ["mipy-demo-util"], index, use_mpy=False)
    assert files_under(board_dir / "lib") == {"demo_util.py": UTIL_V1.encode()}
    report = mip.install(fs, [server.url + "/gh/org/repo/ghlib.py"], index, target="/other")
    assert [(p.name, p.spec.kind) for p in report.packages] == [("ghlib", "file")]
    assert (board_dir / "other" / "ghlib.py").read_bytes() == (builder.root / "gh/org/repo/ghlib.py").read_bytes()
    assert [p.name for p in mip.list_installed(fs, "/other")] == ["ghlib"]


def test_update_removes_old_files_and_remove_keeps_dependencies(fs, board_dir, index):
    mip.install(fs, ["mipy-demo-sensor@0.1"], index)
    assert (board_dir / "lib/demo_sensor/extra.mpy").is_file()
    assert [(p.name, p.version) for p in mip.list_installed(fs)][0] == ("mipy-demo-sensor", "0.1")
    update = mip.install(fs, ["mipy-demo-sensor"], index)
    assert update.removed == ["/lib/demo_sensor/extra.mpy"] and not (board_dir / "lib/demo_sensor/extra.mpy").exists()
    assert sorted(p.name for p in (board_dir / "lib").glob("*.dist-info")) == [
        "mipy_demo_sensor-0.2.dist-info", "mipy_demo_util-1.0.dist-info"]
    removed = mip.remove(fs, "mipy-demo-sensor")
    assert sorted(removed) == ["/lib/demo_sensor/__init__.mpy", "/lib/demo_sensor/core.mpy"]
    assert not (board_dir / "lib/demo_sensor").exists()  # the emptied folder went too
    assert [p.name for p in mip.list_installed(fs)] == ["mipy-demo-util"]
    assert (board_dir / "lib/demo_util.mpy").is_file()
    with pytest.raises(PackageNotInstalled) as caught:
        mip.remove(fs, "mipy-demo-sensor")
    assert caught.value.installed == ["mipy-demo-util"]


def test_a_package_installed_once_installs_offline(make_board, board_dir, demo_index, tmp_path):
    _server, builder = demo_index
    # A server of our own, to stop: the network goes away after the first install.
    root = tmp_path / "served"
    shutil.copytree(builder.root, root)
    server = IndexServer(root)
    cache = tmp_path / "cache"
    fs = BoardFS(make_board())
    try:
        mip.install(fs, ["mipy-demo-sensor", server.url + "/gh/org/repo"], PackageIndex(server.url, cache=cache))
    finally:
        server.stop()
    first = files_under(board_dir / "lib")
    shutil.rmtree(board_dir / "lib")
    offline = PackageIndex(server.url, cache=cache, timeout=2)
    report = mip.install(fs, ["mipy-demo-sensor", server.url + "/gh/org/repo"], offline)
    assert offline.fetched_from_network == 0 and offline.served_from_cache > 0
    assert files_under(board_dir / "lib") == first and len(report.written) == 4 + 6
    # Never fetched: a clear error, and the board keeps what it had.
    with pytest.raises(PackageFetchError) as caught:
        mip.install(fs, ["mipy-demo-sensor@0.1"], offline)
    assert caught.value.status == 0 and not caught.value.offline
    with pytest.raises(PackageFetchError) as caught:
        mip.install(fs, ["mipy-demo-sensor@0.1"], PackageIndex(server.url, cache=cache, offline=True))
    assert caught.value.offline
    assert files_under(board_dir / "lib") == first


def test_a_damaged_file_is_refused_before_the_board_is_touched(fs, board_dir, demo_index, tmp_path):
    _server, builder = demo_index
    root = tmp_path / "served"
    shutil.copytree(builder.root, root)
    short = json.loads((root / "package" / builder.mpy / "mipy-demo-util" / "latest.json").read_text())["hashes"][0][1]
    damaged = root / "file" / short[:2] / short
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
    server = IndexServer(root)
    try:
        with pytest.raises(PackageHashMismatch) as caught:
            mip.install(fs, ["mipy-demo-sensor"], PackageIndex(server.url, cache=tmp_path / "cache"))
    finally:
        server.stop()
    assert caught.value.expected == short
    assert not (board_dir / "lib").exists()  # the sensor's own files were fine, but nothing was written
    cached = [p.read_bytes() for p in (tmp_path / "cache").iterdir()] if (tmp_path / "cache").exists() else []
    assert damaged.read_bytes() not in cached  # a file that failed its check is not kept for offline use


def test_unknown_packages_and_bad_specs(fs, board_dir, index):
    with pytest.raises(PackageNotFound) as caught:
        mip.install(fs, ["no-such-package"], index)
    assert caught.value.name == "no-such-package"
    for bad in ("../etc", "", "github:only-org"):
        with pytest.raises(PackageSpecError):
            parse_spec(bad)
    assert parse_spec("github:org/repo@v1").location == "github:org/repo/package.json"
    assert rewrite_url("github:org/repo/package.json", "v1") == \
        "https://raw.githubusercontent.com/org/repo/v1/package.json"
    assert rewrite_url("gitlab:org/repo/x/y.py") == "https://gitlab.com/org/repo/-/raw/HEAD/x/y.py"
    assert not (board_dir / "lib").exists()


def test_same_files_and_bytes_as_mpremote_mip(standalone_board, fs, board_dir, index, demo_index):
    server, _builder = demo_index
    device, mpremote_dir = standalone_board
    github_style = server.url + "/gh/org/repo/package.json"
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    result = subprocess.run([str(BIN / "mpremote"), "connect", device, "mip", "install", "--index", server.url,
                             "mipy-demo-sensor", github_style], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    mip.install(fs, ["mipy-demo-sensor", github_style], index)
    theirs = files_under(mpremote_dir / "lib")
    assert set(theirs) == {"demo_sensor/__init__.mpy", "demo_sensor/core.mpy", "demo_util.mpy", "ghlib.py"}
    assert files_under(board_dir / "lib") == theirs
    # Ours adds only the records mpremote does not keep.
    assert set(files_under(board_dir / "lib", skip_records=False)) - set(theirs) == {
        f"{name}.dist-info/{part}" for name in ("mipy_demo_sensor-0.2", "mipy_demo_util-1.0", "repo-0.3")
        for part in ("METADATA", "RECORD")}
    # Source files into another folder: mpremote's --no-mpy --target against ours.
    result = subprocess.run([str(BIN / "mpremote"), "connect", device, "mip", "install", "--index", server.url,
                             "--no-mpy", "--target", "/src", "mipy-demo-sensor"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    mip.install(fs, ["mipy-demo-sensor"], index, target="/src", use_mpy=False)
    theirs = files_under(mpremote_dir / "src")
    assert set(theirs) == {"demo_sensor/__init__.py", "demo_sensor/core.py", "demo_util.py"}
    assert files_under(board_dir / "src") == theirs


def test_run_project_installs_the_packages_it_declares(board, board_dir, demo_index, tmp_path):
    server, _builder = demo_index
    project_dir = tmp_path / "proj"
    project_dir.mkdir()
    (project_dir / "main.py").write_text("import demo_sensor\nprint('reading', demo_sensor.read())\n")
    (project_dir / "mipy_project.json").write_text(json.dumps(
        {"name": "proj", "packages": ["mipy-demo-sensor"], "package_index": server.url}))
    project = load_project(project_dir)
    assert project.packages == ("mipy-demo-sensor",)
    first = deploy(board, project)
    assert first.packages is not None and [p.name for p in first.packages.packages] == [
        "mipy-demo-sensor", "mipy-demo-util"]
    assert board.exec("exec(open('/main.py').read())").strip() == b"reading 42"
    second = deploy(board, project)
    assert second.packages is None  # all there: nothing fetched, nothing sent
    (project_dir / "mipy_project.json").write_text(json.dumps({"name": "proj", "packages": "mipy-demo-sensor"}))
    with pytest.raises(Exception) as caught:
        load_project(project_dir)
    assert getattr(caught.value, "field", None) == "packages"


def test_command_line_install_list_remove(demo_index, tmp_path):
    server, _builder = demo_index
    env = {**os.environ, "MIPY_PORT": "virtual", "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def cli(*args, ok=True):
        result = subprocess.run([sys.executable, "-m", "ide", *args], capture_output=True, text=True, env=env,
                                timeout=120)
        assert (result.returncode == 0) == ok, result.stdout + result.stderr
        return result.stdout + result.stderr

    out = cli("mip", "install", "--index", server.url, "mipy-demo-sensor")
    assert "mipy-demo-util 1.0 (for mipy-demo-sensor)" in out and "3 files" not in out
    listed = cli("mip", "list")
    assert "mipy-demo-sensor" in listed and "mipy-demo-util" in listed
    assert "2 files removed" in cli("mip", "remove", "mipy-demo-sensor")
    assert "Doubles numbers" in cli("mip", "search", "--index", server.url, "--offline", "util")


def test_packages_dialog_lists_searches_installs_updates_and_removes(qtbot, tmp_path, demo_index):
    from tests.test_ui_app import make_window
    from ide.ui.packages_dialog import open_packages_dialog

    server, _builder = demo_index
    window = make_window(qtbot, tmp_path)
    try:
        board_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Board")
        assert window.packages_action in board_menu.actions()
        with qtbot.waitSignal(window.connection.sig_job_finished, timeout=10000):
            dialog = open_packages_dialog(window, server.url)
        qtbot.waitUntil(lambda: dialog.row_names() == ["mipy-demo-sensor", "mipy-demo-util"], timeout=5000)
        dialog.search.setText("pretend")
        assert dialog.row_names() == ["mipy-demo-sensor"]
        dialog.select(["mipy-demo-sensor"])
        with qtbot.waitSignal(dialog.sig_changed, timeout=15000) as changed:
            dialog.install(["mipy-demo-sensor@0.1"])
        assert [p.version for p in changed.args[0].packages] == ["0.1", "1.0"]
        assert (tmp_path / "board/lib/demo_sensor/extra.mpy").is_file()
        dialog.search.setText("")
        assert dialog.update_button.isEnabled()  # 0.1 installed, 0.2 in the index
        dialog.select(["mipy-demo-sensor"])
        with qtbot.waitSignal(dialog.sig_changed, timeout=15000):
            dialog.update_selected()
        assert {p.name: p.version for p in dialog.installed}["mipy-demo-sensor"] == "0.2"
        assert not (tmp_path / "board/lib/demo_sensor/extra.mpy").exists()
        dialog.confirm_prompt = lambda title, text: True
        dialog.select(["mipy-demo-sensor"])
        with qtbot.waitSignal(dialog.sig_changed, timeout=15000):
            dialog.remove()
        assert [p.name for p in dialog.installed] == ["mipy-demo-util"]
        assert not (tmp_path / "board/lib/demo_sensor").exists()
        assert window.wait_idle()
    finally:
        window.shutdown()


def test_old_boards_get_source_where_the_index_has_no_mpy_for_them(index, demo_index):
    _server, builder = demo_index
    newest = index.resolve(["mipy-demo-sensor"], int(builder.mpy))
    assert {p.variant for p in newest} == {builder.mpy}
    for old in (5, None):  # MicroPython 1.12-1.18 (.mpy 5), and firmware older than sys.implementation.mpy
        packages = index.resolve(["mipy-demo-sensor"], old)
        assert {p.variant for p in packages} == {"py"}
        assert all(f.path.endswith(".py") for p in packages for f in p.files)
