"""Board file system operations and transfers on the virtual board (real interpreter)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ide.errors import BoardError, PortVanishedError
from ide.filebrowser.board_fs import TEMP_SUFFIX, BoardFS, normalise
from ide.filebrowser.errors import BoardFileNotFound, BoardNoSpace, PathOutsideBoard, TransferVerifyError
from tests.conftest import needs_virtual_board

pytestmark = needs_virtual_board

NAMES = ["plain.txt", "with space.py", "quote'and\"double.txt", "back\\slash.bin", "ünïcødé €.txt"]


@pytest.fixture
def fs(board):
    return BoardFS(board)


@pytest.mark.parametrize("data", [b"", bytes(range(256)) * 3, b"print('hi')\n" * 500,
                                  random.Random(3).randbytes(5000)], ids=["empty", "all-bytes", "text", "random"])
def test_round_trip(fs, board_dir, data):
    fs.write("/f.bin", data)
    assert (board_dir / "f.bin").read_bytes() == data
    assert fs.read("/f.bin") == data


def test_one_megabyte_round_trip(make_board, board_dir):
    fs = BoardFS(make_board(fs_size=4 * 1024 * 1024, heap_size=256 * 1024))
    data = random.Random(7).randbytes(1024 * 1024)
    fs.write("/big.bin", data)
    assert (board_dir / "big.bin").read_bytes() == data
    assert fs.read("/big.bin") == data


@pytest.mark.parametrize("name", NAMES)
def test_awkward_names(fs, board_dir, name):
    fs.write("/" + name, name.encode())
    assert (board_dir / name).read_bytes() == name.encode()
    assert [entry.name for entry in fs.listdir("/")] == [name]
    fs.rename("/" + name, "/renamed " + name)
    assert fs.read("/renamed " + name) == name.encode()
    fs.remove("/renamed " + name)
    assert fs.listdir("/") == []


def test_paths_outside_the_board_are_refused(fs):
    for path in ["/../etc/passwd", "../x", "/a/../../b"]:
        with pytest.raises(PathOutsideBoard):
            normalise(path)
    with pytest.raises(PathOutsideBoard):
        fs.read("/../../etc/hostname")


def test_folders_mkdir_walk_remove(fs, board_dir, tmp_path):
    fs.mkdir("/lib/deep/er")
    fs.write("/lib/deep/er/a.py", b"a")
    assert [e.path for e in fs.walk("/lib")] == ["/lib/deep", "/lib/deep/er", "/lib/deep/er/a.py"]
    local = tmp_path / "proj"
    (local / "sub").mkdir(parents=True)
    (local / "main.py").write_text("print(1)\n")
    (local / "sub" / "x.bin").write_bytes(bytes(range(256)))
    fs.upload(local, "/")
    assert (board_dir / "proj" / "sub" / "x.bin").read_bytes() == bytes(range(256))
    assert fs.compare(local, "/proj") == {"main.py": "same", "sub/x.bin": "same"}
    back = tmp_path / "back"
    back.mkdir()
    fs.download("/proj", back)
    assert (back / "proj" / "sub" / "x.bin").read_bytes() == bytes(range(256))
    fs.remove("/lib", recursive=True)
    assert not (board_dir / "lib").exists()
    with pytest.raises(BoardFileNotFound):
        fs.stat("/lib")


def test_upload_refuses_what_cannot_fit(make_board, board_dir):
    fs = BoardFS(make_board(fs_size=64 * 1024))
    fs.write("/keep.txt", b"old contents")
    with pytest.raises(BoardNoSpace) as caught:
        fs.write("/keep.txt", b"x" * 100_000, compress=False)
    assert caught.value.needed == 100_000
    assert (board_dir / "keep.txt").read_bytes() == b"old contents"
    assert sorted(os.listdir(board_dir)) == ["keep.txt"]


def test_corrupted_byte_is_caught_and_the_old_file_survives(fs, board, board_dir):
    fs.write("/data.bin", b"old")
    fs.df()
    # The first attempt is corrupted on the wire; the retry goes through, verified.
    board.virtual_board.corrupt_byte(200)
    data = random.Random(5).randbytes(3000)
    fs.write("/data.bin", data, compress=False)
    assert (board_dir / "data.bin").read_bytes() == data
    assert not [name for name in os.listdir(board_dir) if name.endswith(TEMP_SUFFIX)]


@pytest.mark.parametrize("cut_after", [50, 400, 1500, 2900])
def test_disconnect_mid_transfer_leaves_the_old_file(make_board, board_dir, cut_after):
    board = make_board()
    fs = BoardFS(board)
    fs.write("/data.bin", b"the old file")
    fs.df()
    board.virtual_board.disconnect_after(cut_after)
    with pytest.raises((PortVanishedError, BoardError)):
        fs.write("/data.bin", random.Random(cut_after).randbytes(3000), compress=False)
    assert (board_dir / "data.bin").read_bytes() == b"the old file"
    # Reconnect (a new device path, a power-on): the stray temporary file is cleaned up at connect.
    from ide.board.board import Board
    device = board.virtual_board.reconnect()
    again = BoardFS(Board.open(device, timeout=10))
    again.remove_stray_temporaries()
    assert sorted(os.listdir(board_dir)) == ["data.bin"]
    assert again.read("/data.bin") == b"the old file"
    again.board.link.close()


def test_file_written_by_us_reads_back_in_mpremote_and_vice_versa(fs, board, board_dir, tmp_path):
    data = random.Random(11).randbytes(4000)
    fs.write("/ours.bin", data)
    board.close()
    from ide.board.virtual import VirtualBoard, VirtualBoardConfig
    with VirtualBoard(VirtualBoardConfig(root_dir=board_dir, baud=0)) as vb:
        mpremote = [str(Path(sys.executable).parent / "mpremote"), "connect", vb.device_path]
        subprocess.run(mpremote + ["fs", "cp", ":ours.bin", str(tmp_path / "got.bin")], check=True,
                       capture_output=True, timeout=60)
        assert (tmp_path / "got.bin").read_bytes() == data
        theirs = random.Random(12).randbytes(3000)
        (tmp_path / "theirs.bin").write_bytes(theirs)
        subprocess.run(mpremote + ["fs", "cp", str(tmp_path / "theirs.bin"), ":theirs.bin"], check=True,
                       capture_output=True, timeout=60)
    from ide.board.board import Board
    with Board.open("virtual", virtual_config=VirtualBoardConfig(root_dir=board_dir, baud=0)) as again:
        assert BoardFS(again).read("/theirs.bin") == theirs


def test_corrupted_byte_without_retry_is_a_clear_error_and_changes_nothing(fs, board, board_dir):
    from ide.explain import explain
    fs.write("/data.bin", b"old")
    fs.df()
    board.virtual_board.corrupt_byte(300)
    with pytest.raises(TransferVerifyError) as caught:
        fs.write("/data.bin", random.Random(6).randbytes(3000), compress=False, attempts=1)
    assert caught.value.path == "/data.bin" and caught.value.expected != caught.value.got
    assert "cable" in explain(caught.value)
    assert (board_dir / "data.bin").read_bytes() == b"old"
    assert sorted(os.listdir(board_dir)) == ["data.bin"]


def test_cancelled_upload_leaves_the_old_file_and_no_temporary(fs, board_dir):
    import threading
    fs.write("/keep.bin", b"before")
    cancel = threading.Event()

    def progress(done, total):
        if done > 1000:
            cancel.set()

    from ide.errors import Cancelled
    with pytest.raises(Cancelled):
        fs.write("/keep.bin", random.Random(9).randbytes(20_000), progress, cancel, compress=False)
    assert (board_dir / "keep.bin").read_bytes() == b"before"
    assert sorted(os.listdir(board_dir)) == ["keep.bin"]
    assert fs.read("/keep.bin") == b"before"


def test_progress_reaches_the_total(fs):
    seen = []
    data = random.Random(4).randbytes(3000)
    fs.write("/p.bin", data, lambda done, total: seen.append((done, total)), compress=False)
    assert seen[-1] == (3000, 3000) and seen[0] == (0, 3000)
    seen.clear()
    fs.read("/p.bin", lambda done, total: seen.append((done, total)))
    assert seen[-1] == (3000, 3000)


def test_cli_file_commands(tmp_path, board_dir):
    import subprocess
    import sys
    env = {**os.environ, "MIPY_PORT": "virtual"}
    # The CLI's virtual board keeps its files in the user data folder; point it at this test's folder.
    env["XDG_DATA_HOME"] = str(tmp_path / "data")

    def cli(*args, check=True):
        result = subprocess.run([sys.executable, "-m", "ide", *args], capture_output=True, text=True, env=env,
                                timeout=60)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    local = tmp_path / "hello world.py"
    local.write_text("print('hi')\n")
    cli("mkdir", "/lib/sub")
    cli("put", str(local), "/lib/sub")
    assert "hello world.py" in cli("ls", "-l", "/lib/sub").stdout
    assert cli("cat", "/lib/sub/hello world.py").stdout == "print('hi')\n"
    cli("mv", "/lib/sub/hello world.py", "/lib/renamed.py")
    cli("get", "/lib/renamed.py", str(tmp_path / "back.py"))
    assert (tmp_path / "back.py").read_text() == "print('hi')\n"
    assert "free" in cli("df").stdout
    cli("rm", "-r", "/lib")
    missing = cli("cat", "/lib/renamed.py", check=False)
    assert missing.returncode == 2 and "no file or folder /lib/renamed.py" in missing.stderr
