"""PlotterPane with real pyqtgraph."""

import math

import pytest
from PyQt6.QtGui import QImage

from ide.ui.plotter import PlotterPane


@pytest.fixture
def pane(qtbot):
    p = PlotterPane(max_points=100)
    qtbot.addWidget(p)
    p.resize(500, 300)
    p.show()
    qtbot.waitExposed(p)
    return p


def test_feed_splits_lines_incrementally_and_ignores_text(pane):
    pane.feed(b">>> run()\r\nstarting sensor\r\n(21.5, 4")  # tuple split across two reads
    assert pane.sample_count == 0
    pane.feed(b"0)\r\n(22.0, 41)\r\nError: nothing\r\n")
    assert pane.sample_count == 2 and pane.curve_count == 2
    assert pane.data()[1] == [[0.0, 21.5, 40.0], [1.0, 22.0, 41.0]]


def test_curves_grow_with_positions_and_draw(pane):
    pane.feed(b"1\n2 3\n4,5,6\n")
    pane.flush()
    assert pane.curve_count == 3 and len(pane._curves) == 3
    _, rows = pane.data()
    assert math.isnan(rows[0][2]) and rows[2] == [2.0, 4.0, 5.0, 6.0]
    xs, ys = pane._curves[2].getData()
    assert list(xs) == [0, 1, 2] and ys[2] == 6.0


def test_pause_drops_and_resume(pane):
    pane.feed(b"1\n")
    pane.set_paused(True)
    assert pane.pause_button.text() == "Resume"
    pane.feed(b"2\n3\n")
    assert pane.sample_count == 1
    pane.pause_button.setChecked(False)
    assert not pane.paused
    pane.feed(b"4\n")
    assert [r[1] for r in pane.data()[1]] == [1.0, 4.0]


def test_clear(pane):
    pane.feed(b"1 2\n3 4\n")
    pane.flush()
    pane.clear()
    assert pane.curve_count == 0 and pane.sample_count == 0 and pane._curves == []
    pane.feed(b"7\n")
    assert pane.data()[1] == [[0.0, 7.0]]


def test_max_points_keeps_newest(pane):
    pane.feed(b"".join(f"{i}\n".encode() for i in range(250)))
    assert pane.sample_count == 100 and pane.data()[1][0] == [150.0, 150.0]


def test_export_csv_with_labels(pane, tmp_path):
    pane.feed(b"temp: 21.5 hum: 40\r\ntemp: 22 hum: 41.25\r\n")
    target = tmp_path / "plot.csv"
    pane.export_csv(target)
    assert target.read_text().splitlines() == ["sample,temp,hum", "0,21.5,40.0", "1,22.0,41.25"]


def test_export_png(pane, tmp_path):
    pane.feed(b"1\n3\n2\n")
    target = tmp_path / "plot.png"
    assert pane.export_png(target)
    image = QImage(str(target))
    assert not image.isNull() and image.width() > 100
