"""Run project benchmark: one file changed in a template project, Run project (interrupt, build, hash-compared
sync, soft reset) against what people do without an IDE: upload the whole project with ``mpremote cp -r`` and
soft-reset.

The virtual board runs with wire emulation at 115200 baud (11,520 bytes/s), a 256-byte UART receive buffer,
1 ms latency each way and the ESP32-like flash model (as bench/transfer.py). The project is the mqtt_sensor
template (framework + main.py + config.py, about 45 KB of source) with main.py running; no broker and no Wi-Fi
network, so it is busy retrying, as a board under development often is.

- mpremote: ``mpremote connect DEVICE cp -r lib main.py config.py : + soft-reset`` as one command, timed from
  start to exit (it connects, interrupts main.py, copies every file, resets).
- MiPy Studio: the board is connected (as in the window); timed around ``run_project`` after one edit of
  config.py, from the interrupt to the reset (the build, the hash comparison of every file and the upload of the
  changed file and the manifest included). Also shown: the same with Board.open (connect) included.

Run: .venv/bin/python bench/run_project.py     Writes bench/RUN_PROJECT_RESULTS.md.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ide.board.board import Board
from ide.board.virtual import VirtualBoard, VirtualBoardConfig
from ide.project.new_project import ProjectSettings, create_project
from ide.project.run_project import run_project
from ide.project.templates import get_template

ROOT = Path(__file__).resolve().parent.parent
MPREMOTE = Path(sys.executable).with_name("mpremote")
BAUD = 115200
REPEAT = 3


def config(root: Path) -> VirtualBoardConfig:
    # 256 KB heap: the virtual board compiles its hardware shims from source (firmware on a chip).
    return VirtualBoardConfig(root_dir=root, baud=BAUD, latency_s=0.001, rx_buffer=256, flash_model=True,
                              heap_size=256 * 1024)


def project_size(project_root: Path) -> tuple[int, int]:
    files = [p for p in project_root.rglob("*") if p.is_file() and "build" not in p.relative_to(project_root).parts
             and p.suffix == ".py"]
    return len(files), sum(p.stat().st_size for p in files)


def edit(project_root: Path, n: int) -> None:
    config_file = project_root / "config.py"
    config_file.write_text(config_file.read_text() + f"# edit {n}\n")


def bench_mpremote(project_root: Path, board_root: Path, whole: bool) -> list[float]:
    """``whole``: the board's copy is deleted first, so mpremote uploads the whole project (its ``cp`` skips a
    file whose sha256 matches the board's; without ``whole`` that is what is measured)."""
    times = []
    board = VirtualBoard(config(board_root))
    device = board.start()
    try:
        time.sleep(1.0)  # booted to its prompt before mpremote connects
        subprocess.run([str(MPREMOTE), "connect", device, "cp", "-r", "lib", "main.py", "config.py", ":",
                        "+", "soft-reset"], cwd=project_root, check=True, capture_output=True, timeout=120)
        time.sleep(1.0)  # boot and main.py running
        for n in range(REPEAT):
            edit(project_root, 100 + n)
            if whole:
                for name in ("lib", "main.py", "config.py"):
                    path = board_root / name
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
            started = time.perf_counter()
            subprocess.run([str(MPREMOTE), "connect", device, "cp", "-r", "lib", "main.py", "config.py", ":",
                            "+", "soft-reset"], cwd=project_root, check=True, capture_output=True, timeout=120)
            times.append(time.perf_counter() - started)
            time.sleep(0.5)
    finally:
        board.stop()
    return times


def bench_ours(project_root: Path, board_root: Path, project) -> tuple[list[float], list[float], float, list]:
    times, with_connect, uploads = [], [], []
    board = VirtualBoard(config(board_root))
    device = board.start()
    try:
        with Board.open(device, baud=BAUD, timeout=30) as connected:
            started = time.perf_counter()
            first = run_project(connected, project)
            first_time = time.perf_counter() - started
            assert len(first.sync.uploaded) == len(first.build.files)
            for n in range(REPEAT):
                time.sleep(1.0)  # main.py running again
                edit(project_root, n)
                started = time.perf_counter()
                report = run_project(connected, project)
                times.append(time.perf_counter() - started)
                uploads.append(report.sync.uploaded)
                assert report.sync.uploaded == ["/config.py"], report.sync.uploaded
        for n in range(REPEAT):
            time.sleep(1.0)
            edit(project_root, 50 + n)
            started = time.perf_counter()
            with Board.open(device, baud=BAUD, timeout=30) as connected:
                run_project(connected, project)
            with_connect.append(time.perf_counter() - started)
    finally:
        board.stop()
    return times, with_connect, first_time, uploads


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        project = create_project(get_template("mqtt_sensor"), tmp / "sensor",
                                 ProjectSettings(name="bench", mqtt_server="127.0.0.1", mqtt_port=1))
        count, size = project_size(project.root)
        (tmp / "b1").mkdir()
        (tmp / "b2").mkdir()
        ours, ours_connect, first, uploads = bench_ours(project.root, tmp / "b1", project)
        theirs = bench_mpremote(project.root, tmp / "b2", whole=True)
        (tmp / "b3").mkdir()
        theirs_incremental = bench_mpremote(project.root, tmp / "b3", whole=False)
    m_ours, m_connect, m_theirs, m_inc = (statistics.median(x) for x in (ours, ours_connect, theirs,
                                                                           theirs_incremental))
    lines = [
        "# Run project benchmark",
        "",
        f"mqtt_sensor template project: {count} .py files, {size} bytes of source; virtual board at {BAUD} baud "
        "with wire emulation (256-byte RX buffer, 1 ms latency, ESP32 flash model). One line added to config.py "
        f"before each run; median of {REPEAT}. Produced by `bench/run_project.py`.",
        "",
        "| what | median (s) | runs (s) |",
        "|---|---|---|",
        f"| mpremote `cp -r lib main.py config.py : + soft-reset` (whole project, source) | {m_theirs:.2f} | "
        + ", ".join(f"{t:.2f}" for t in theirs) + " |",
        f"| mpremote, same command, board already holding the project (its cp skips files whose sha256 matches) | "
        f"{m_inc:.2f} | " + ", ".join(f"{t:.2f}" for t in theirs_incremental) + " |",
        f"| MiPy Studio Run project, board connected (interrupt, build, sync by hash, soft reset) | {m_ours:.2f} | "
        + ", ".join(f"{t:.2f}" for t in ours) + " |",
        f"| MiPy Studio Run project including connecting to the board | {m_connect:.2f} | "
        + ", ".join(f"{t:.2f}" for t in ours_connect) + " |",
        f"| MiPy Studio first Run project (everything compiled and uploaded) | {first:.2f} | |",
        "",
        f"Speed-up, connected: **{m_theirs / m_ours:.1f}x**; including the connection: "
        f"**{m_theirs / m_connect:.1f}x** (target: at least 5x). Against mpremote's own hash-skipping copy: "
        f"{m_inc / m_ours:.1f}x (it sends .py sources; the board compiles them at every import).",
        f"Uploaded per run after the edit: {uploads[0]} (the manifest on the board stays as it is).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "RUN_PROJECT_RESULTS.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
