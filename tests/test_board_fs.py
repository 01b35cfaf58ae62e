"""Board file system operations and transfers on the virtual board (real interpreter)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ide.errors import BoardError, PortVanishedError
from ide.filebrowser import board_code
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


# --- transfers that cannot desynchronise (issue 15 item 4) -------------------------------------------------------

def _no_temporaries(board_dir: Path) -> bool:
    return not [path for path in board_dir.rglob("*") if path.name.endswith(TEMP_SUFFIX)]


def _repl_is_clean(board) -> None:
    # Stray upload bytes in the raw REPL's line buffer would prefix this code and break it.
    assert board.repl.in_raw_repl
    assert board.exec("print('clean')").strip() == b"clean"


def test_upload_into_a_missing_folder_is_refused_before_any_data_is_sent(fs, board, board_dir):
    fs.df()
    with pytest.raises(BoardFileNotFound) as caught:
        fs.write("/no/such/folder/f.bin", random.Random(1).randbytes(2000), compress=False)
    assert caught.value.path == "/no/such/folder/f.bin"
    _repl_is_clean(board)
    assert _no_temporaries(board_dir)


def test_board_failing_mid_upload_drains_exactly_what_was_sent(make_board, board_dir):
    board = make_board(fs_size=64 * 1024)
    fs = BoardFS(board)
    fs.write("/keep.txt", b"old contents")
    # Past the host's free-space check (a private call): the board's flash fills while windows are in flight.
    wire = random.Random(2).randbytes(100_000)
    with pytest.raises(BoardNoSpace):
        fs._put("/big.bin", "/.big.bin" + TEMP_SUFFIX, wire, False, len(wire), None, None)
    _repl_is_clean(board)
    assert sorted(os.listdir(board_dir)) == ["keep.txt"]
    assert fs.read("/keep.txt") == b"old contents"


def _corrupt_window_header(board, window: int):
    """A progress callback that arms a corruption of window ``window``'s length byte: at progress(0) the put
    command has crossed the wire, so the next host byte is the first window's length byte."""
    armed = []

    def progress(done, total):
        if not armed:
            armed.append(True)
            board.virtual_board.corrupt_byte(board_code.WINDOW * window)
    return progress


def test_corrupted_length_byte_is_detected_and_retried(fs, board, board_dir):
    fs.write("/data.bin", b"old")
    data = random.Random(13).randbytes(3000)
    fs.write("/data.bin", data, _corrupt_window_header(board, 3), compress=False)
    assert (board_dir / "data.bin").read_bytes() == data
    assert _no_temporaries(board_dir)
    _repl_is_clean(board)


def test_corrupted_length_byte_without_retry_keeps_the_old_file(fs, board, board_dir):
    fs.write("/data.bin", b"old")
    with pytest.raises(TransferVerifyError) as caught:
        fs.write("/data.bin", random.Random(14).randbytes(3000), _corrupt_window_header(board, 5),
                 compress=False, attempts=1)
    assert "length byte" in caught.value.got
    assert (board_dir / "data.bin").read_bytes() == b"old"
    assert _no_temporaries(board_dir)
    _repl_is_clean(board)


def test_damaged_deflate_stream_is_retried(fs, board, board_dir):
    fs.write("/text.py", b"old")
    data = b"".join(b"print('line %d of a compressible file')\n" % i for i in range(800))

    armed = []

    def progress(done, total):
        if not armed:
            armed.append(True)
            board.virtual_board.corrupt_byte(300)  # inside the deflate stream, not a length byte
    fs.write("/text.py", data, progress, compress=True)
    assert (board_dir / "text.py").read_bytes() == data
    assert _no_temporaries(board_dir)
    _repl_is_clean(board)


# Board-to-host faults: hooks the lead adds to VirtualBoard (corrupt_output_byte, drop_output_bytes,
# disconnect_output_after). Written against those names; skipped until they land.
def _needs_output_faults():
    from ide.board.virtual import VirtualBoard
    if not hasattr(VirtualBoard, "corrupt_output_byte"):
        pytest.skip("board-to-host fault hooks not landed in ide/board/virtual (lead)")


def _arm_once(action):
    armed = []

    def progress(done, total):
        if not armed:
            armed.append(True)
            action()
    return progress


def test_download_with_a_corrupted_byte_is_retried(fs, board, board_dir, tmp_path):
    _needs_output_faults()
    data = random.Random(21).randbytes(5000)
    (board_dir / "d.bin").write_bytes(data)
    assert fs.read("/d.bin", _arm_once(lambda: board.virtual_board.corrupt_output_byte(700))) == data
    _repl_is_clean(board)


def test_download_with_a_corrupted_byte_without_retry_is_a_clear_error(fs, board, board_dir):
    _needs_output_faults()
    from ide.explain import explain
    (board_dir / "d.bin").write_bytes(random.Random(22).randbytes(5000))
    board.virtual_board.corrupt_output_byte(2000)
    with pytest.raises(TransferVerifyError) as caught:
        fs.read("/d.bin", attempts=1)
    assert "cable" in explain(caught.value)
    assert board.eval("1 + 1") == 2


def test_download_with_dropped_bytes_is_retried(fs, board, board_dir):
    _needs_output_faults()
    data = random.Random(23).randbytes(5000)
    (board_dir / "d.bin").write_bytes(data)
    assert fs.read("/d.bin", _arm_once(lambda: board.virtual_board.drop_output_bytes(900, 5))) == data
    _repl_is_clean(board)


def test_download_cut_off_keeps_the_local_file(make_board, board_dir, tmp_path):
    _needs_output_faults()
    board = make_board()
    fs = BoardFS(board)
    (board_dir / "d.bin").write_bytes(random.Random(24).randbytes(5000))
    local = tmp_path / "got.bin"
    local.write_bytes(b"local old")
    fs.df()
    board.virtual_board.disconnect_output_after(2500)
    with pytest.raises(PortVanishedError):
        fs.download("/d.bin", local)
    assert local.read_bytes() == b"local old"
    assert [p.name for p in tmp_path.iterdir() if p.name != "board"] == ["got.bin"]


def test_upload_with_a_damaged_credit_is_retried(fs, board, board_dir):
    _needs_output_faults()
    fs.write("/u.bin", b"old")
    data = random.Random(25).randbytes(4000)
    fs.write("/u.bin", data, _arm_once(lambda: board.virtual_board.corrupt_output_byte(4)), compress=False)
    assert (board_dir / "u.bin").read_bytes() == data
    assert _no_temporaries(board_dir)
    _repl_is_clean(board)


def test_upload_with_a_lost_credit_is_retried(make_board, board_dir):
    _needs_output_faults()
    from ide.board.board import Board
    from ide.board.virtual import VirtualBoardConfig
    board = Board.open("virtual", virtual_config=VirtualBoardConfig(root_dir=board_dir, baud=0), timeout=2)
    try:
        fs = BoardFS(board)
        fs.write("/u.bin", b"old")
        data = random.Random(26).randbytes(4000)
        fs.write("/u.bin", data, _arm_once(lambda: board.virtual_board.drop_output_bytes(4, 1)), compress=False)
        assert (board_dir / "u.bin").read_bytes() == data
        assert _no_temporaries(board_dir)
    finally:
        board.close()


def test_upload_cut_off_on_the_way_back_keeps_the_old_file(make_board, board_dir):
    _needs_output_faults()
    board = make_board()
    fs = BoardFS(board)
    fs.write("/u.bin", b"old")
    fs.df()
    board.virtual_board.disconnect_output_after(10)
    with pytest.raises((PortVanishedError, BoardError)):
        fs.write("/u.bin", random.Random(27).randbytes(4000), compress=False)
    assert (board_dir / "u.bin").read_bytes() == b"old"


def test_helpers_fit_an_esp8266_heap(make_board, board_dir, micropython_32bit):
    """On a chip's object sizes (32-bit port) with an ESP8266's heap, left with 20 KB free, the helpers install
    as the jobs need them and a 20 KB round trip works; after a soft reset (helpers wiped) and another BoardFS
    (a different set installed) they come back. bench/helpers_heap.py has the figures (about 14 KB needed)."""
    board = make_board(chip="esp8266", interpreter=micropython_32bit)
    # The ESP8266 profile has about 30 KB free; hold all but 20 KB, as a program's globals would.
    free = int(board.exec("import gc\ngc.collect()\n_ballast = bytearray(gc.mem_free() - 20 * 1024)\ngc.collect()\n"
                          "print(gc.mem_free())"))
    assert 19 * 1024 < free <= 20 * 1024
    fs = BoardFS(board)
    text = b"".join(b"line %d: the quick brown fox\n" % i for i in range(800))[:20 * 1024]  # sent deflated
    binary = random.Random(31).randbytes(20 * 1024)                                           # sent as it is
    fs.write("/t.py", text)
    fs.write("/b.bin", binary)
    assert fs.read("/t.py") == text and fs.read("/b.bin") == binary
    assert (board_dir / "t.py").read_bytes() == text and (board_dir / "b.bin").read_bytes() == binary
    assert fs.installed == {"hash", "window", "put", "get"}  # only what these jobs use
    assert fs.free_heap < 64 * 1024  # so one unit per exec, not everything at once

    board.soft_reset(run_main=False)  # wipes the helpers (and the ballast)
    other = BoardFS(board)
    assert [entry.name for entry in other.listdir("/")] == ["b.bin", "t.py"]
    assert other.installed == {"list"}
    fs.write("/t.py", binary)  # fs still believes put is installed: the board's AttributeError says otherwise
    assert (board_dir / "t.py").read_bytes() == binary
    assert other.hashes(["/t.py"]) == {"/t.py": fs.host_hash(binary)}  # found hash there, installed nothing
    assert other.installed == {"list", "hash", "window", "put"}
    board.soft_reset(run_main=False)
    assert fs.read("/t.py") == binary  # the board's NameError: reinstalled
