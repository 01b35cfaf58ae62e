"""Many boards at once (ide.fleet, the --port P1 --port P2 command line): simulated ESP chips flashed by the real
esptool in parallel, virtual boards (the real MicroPython interpreter on ptys) deployed in parallel, one board
made to fail each time while the others finish."""

from __future__ import annotations

import hashlib

import pytest
from PyQt6.QtCore import Qt

from conftest import needs_virtual_board
from ide.board import virtual
from ide.cli import build_parser, main
from ide.cli.fleet_commands import _global_ports, summary_table
from ide.errors import PortVanishedError
from ide.fleet.errors import DuplicateBoard
from ide.fleet.boards import check_ports
from ide.fleet.jobs import DeployJob, ExecJob, FlashJob
from ide.fleet.runner import FAILED, OK, run_fleet
from ide.flasher.chips import CHIPS
from ide.flasher.errors import FlashWriteFailed
from ide.flasher.esp_sim import EspSimulator
from ide.flasher.images import build_test_image
from ide.project.new_project import ProjectSettings, create_project
from ide.project.templates import get_template

pytestmark = pytest.mark.timeout(180)


def test_every_port_given_before_the_command_is_collected(capsys):
    parser = build_parser()
    argv = ["--port", "/dev/a", "-p/dev/b", "--baud", "9600", "--port=virtual:x", "-p", "COM3", "exec", "--port y"]
    args = parser.parse_args(argv)
    assert _global_ports(parser, argv, args.command) == ["/dev/a", "/dev/b", "virtual:x", "COM3"]
    with pytest.raises(DuplicateBoard):
        check_ports(["/dev/a", "/dev/a"])
    assert main(["--port", "/dev/a", "--port", "/dev/b", "info"]) == 2  # only the four many-board commands
    assert "several boards at once work with flash" in capsys.readouterr().err


def test_four_simulated_chips_flashed_at_once_one_fails(tmp_path):
    image = build_test_image(CHIPS["esp32"], 60_000, seed=3)
    simulators = [EspSimulator("esp32", mac=bytes([0x24, 0x0A, 0xC4, 0, 0, n])) for n in range(4)]
    for simulator in simulators:
        simulator.start()
    try:
        simulators[2].fail_flash_writes()  # a worn flash chip on the third board
        ports = [simulator.device for simulator in simulators]
        updates = []
        results = run_fleet(ports, FlashJob(image), on_update=updates.append)
        assert [result.status for result in results] == [OK, OK, FAILED, OK]
        assert isinstance(results[2].error, FlashWriteFailed)
        for n in (0, 1, 3):
            offset = CHIPS["esp32"].micropython_offset
            assert simulators[n].flash.read(offset, len(image)) == image
            assert results[n].chip == "ESP32" and results[n].mac == f"24:0a:c4:00:00:{n:02x}"
        # Progress per board, each ending in its result.
        assert {update.port for update in updates} == set(ports)
        assert {update.port: update.phase for update in updates}[ports[2]] == FAILED
        table = summary_table(results)
        assert table.splitlines()[0].split() == ["board", "chip", "MAC", "result", "time"]
        assert "failed" in table.splitlines()[3] and table.count("wrote 59 KB") == 3
    finally:
        for simulator in simulators:
            simulator.stop()


@pytest.fixture
def virtual_boards(tmp_path):
    """Four virtual boards on their own ptys (as four USB boards would be), unlimited wire speed."""
    boards = []
    for n in range(4):
        root = tmp_path / f"vb{n}"
        root.mkdir()
        board = virtual.VirtualBoard(virtual.VirtualBoardConfig(root_dir=root, baud=0))
        board.start()
        boards.append(board)
    yield boards
    for board in boards:
        board.stop()


@needs_virtual_board
def test_four_virtual_boards_deployed_at_once_one_unplugged(tmp_path, virtual_boards):
    project = create_project(get_template("blink"), tmp_path / "blink", ProjectSettings(name="blinky"))
    virtual_boards[1].disconnect_after(3000)  # the cable of the second board is pulled during the upload
    ports = [board.device_path for board in virtual_boards]
    results = run_fleet(ports, DeployJob(project))
    assert [result.status for result in results] == [OK, FAILED, OK, OK], [str(r.error) for r in results]
    assert isinstance(results[1].error, PortVanishedError)
    built = {path.relative_to(project.build_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
             for path in project.build_dir.rglob("*") if path.is_file() and not path.name.startswith(".")}
    assert "lib/mipy/app.mpy" in built and "main.py" in built
    for n in (0, 2, 3):
        root = virtual_boards[n].root_dir
        on_board = {rel: hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in built}
        assert on_board == built
        assert results[n].chip == "esp32 (virtual)" and len(results[n].mac.split(":")) == 6
        assert results[n].summary.startswith(f"uploaded {len(built)} ")


@needs_virtual_board
def test_command_line_execs_on_every_board_and_prints_the_table(virtual_boards, capsys):
    virtual_boards[3].freeze()  # a hung board: it times out, the others answer
    argv = []
    for board in virtual_boards:
        argv += ["--port", board.device_path]
    code = main(argv + ["--timeout", "3", "exec", "print('hello', 6 * 7)"])
    out = capsys.readouterr().out
    assert code == 2
    rows = out.splitlines()
    assert rows[0].split() == ["board", "chip", "MAC", "result", "time"]
    assert sum("hello 42" in row for row in rows[1:5]) == 3 and "failed" in rows[4]
    assert out.count("--- /dev/") == 3


def test_exec_job_failure_is_a_row_not_an_exception():
    results = run_fleet(["/dev/does-not-exist-1", "/dev/does-not-exist-2"], ExecJob("print(1)"))
    assert [result.status for result in results] == [FAILED, FAILED]
    assert "does-not-exist-1" in summary_table(results)


@needs_virtual_board
def test_many_boards_dialog_runs_a_line_on_the_ticked_boards(qtbot, virtual_boards):
    from ide.ui.many_boards import ManyBoardsDialog
    dialog = ManyBoardsDialog(lambda: None)
    qtbot.addWidget(dialog)
    tab = dialog.boards_tab
    for n in range(tab.ports.count()):
        tab.ports.item(n).setCheckState(Qt.CheckState.Unchecked)  # real ports of this machine: not these
    for board in virtual_boards[:2]:
        tab.add_port(board.device_path)
    tab.job.setCurrentIndex(tab.job.findData("exec"))
    tab.argument.setText("print(6 * 7)")
    tab.run_button.click()
    qtbot.waitUntil(lambda: tab.summary.text() == "2 of 2 boards ok", timeout=30_000)
    assert [tab.table.item(row, 4).text() for row in range(2)] == ["42", "42"]
    assert all(tab.table.item(row, 1).text() == "esp32 (virtual)" for row in range(2))


@needs_virtual_board
def test_all_boards_finds_named_virtual_boards_and_runs_the_project_on_them(tmp_path, monkeypatch, capsys):
    from ide.fleet import boards
    monkeypatch.setattr(boards, "named_virtual_boards_dir", lambda: tmp_path / "virtual-boards")
    monkeypatch.setattr(boards.port_discovery, "list_board_ports", lambda include_unlikely=True: [])
    for name in ("desk1", "desk2"):
        (tmp_path / "virtual-boards" / name).mkdir(parents=True)
    assert boards.all_boards() == ["virtual:desk1", "virtual:desk2"]
    project = create_project(get_template("blink"), tmp_path / "blink", ProjectSettings(name="blinky"))
    results = run_fleet(boards.all_boards(), DeployJob(project, run=True, follow_s=1.5))
    assert [r.status for r in results] == [OK, OK], [str(r.error) for r in results]
    assert all(b"blinky starting" in r.output for r in results)
    assert (tmp_path / "virtual-boards" / "desk2" / "lib" / "mipy" / "app.mpy").is_file()
    assert main(["--all-boards", "exec", "print(6 * 7)"]) == 0
    assert capsys.readouterr().out.count("--- virtual:desk") == 2
