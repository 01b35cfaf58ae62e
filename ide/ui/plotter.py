"""The plotter: numbers the board prints, plotted live (one curve per position), as Mu and Thonny offer.

Feed it the same bytes as the console (:meth:`PlotterPane.feed`); lines that are not numbers (see
:mod:`ide.lang.plotdata`) are ignored here and still shown by the console. Pause freezes the plot and drops
samples that arrive meanwhile, so resuming shows the live signal rather than a backlog.
"""

from __future__ import annotations

import codecs
import csv
import math
import os
from collections import deque
from typing import TYPE_CHECKING

from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from ide.lang.plotdata import parse_line
from ide.ui import theme as theme_mod

MAX_POINTS = 2000  # samples kept per curve: ~3 minutes at 10 samples/s, still instant to redraw
MAX_LINE_BYTES = 4096  # a "line" longer than this without a newline is binary noise, not a sample
REDRAW_INTERVAL_MS = 50  # 20 fps: smooth enough for sensor data, negligible CPU

if TYPE_CHECKING:
    import pyqtgraph as pg


class PlotterPane(QWidget):
    """Live plot of numeric lines from the board, with Pause, Clear and Export (CSV or PNG)."""

    sig_sample_added = pyqtSignal(tuple)
    """A plottable line arrived and was recorded (its values)."""

    def __init__(self, parent: QWidget | None = None, palette: theme_mod.Palette | None = None,
                 max_points: int = MAX_POINTS):
        super().__init__(parent)
        self._palette = palette or theme_mod.LIGHT
        self._max_points = max_points
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._x: deque[int] = deque(maxlen=max_points)
        self._series: list[deque[float]] = []
        self._labels: list[str] = []
        self._count = 0
        self._paused = False
        self._dirty = False

        # pyqtgraph (and numpy) take ~0.2 s to import: the plot is made when the pane is first shown or drawn,
        # not while the window opens (see the ``plot`` property).
        self._plot: "pg.PlotWidget | None" = None
        self._legend = None
        self._curves: list["pg.PlotDataItem"] = []

        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear)
        export = QPushButton("Export…")
        export.clicked.connect(self._ask_export)
        self.status = QLabel()
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        for w in (self.pause_button, clear, export):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        self._layout = layout

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()
        self.set_theme(self._palette)

    @property
    def plot(self) -> "pg.PlotWidget":
        """The pyqtgraph plot widget (made on first use)."""
        if self._plot is None:
            import pyqtgraph as pg

            self._plot = pg.PlotWidget()
            self._plot.showGrid(x=True, y=True, alpha=0.25)
            self._plot.setLabel("bottom", "sample")
            self._legend = self._plot.addLegend(offset=(10, 10))
            self._layout.addWidget(self._plot, 1)
            self.set_theme(self._palette)
        return self._plot

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        # Docks tabified behind others are shown for a moment while the window first lays out: build the plot
        # only if the pane is still on screen once the event loop runs again.
        if self._plot is None:
            QTimer.singleShot(0, self._build_if_visible)

    def _build_if_visible(self) -> None:
        if self._plot is None and self.isVisible() and not self.visibleRegion().isEmpty():
            self.plot  # noqa: B018 - builds it

    # --- input ---

    def feed(self, data: bytes) -> None:
        """Take bytes from the board; complete lines that hold numbers become samples."""
        text = self._partial + self._decoder.decode(data)
        *lines, self._partial = text.split("\n")
        if len(self._partial) > MAX_LINE_BYTES:
            self._partial = ""
        for line in lines:
            self.add_line(line)

    def add_line(self, line: str) -> bool:
        """Parse one line; record it if plottable. True when it was a sample (even if dropped while paused)."""
        sample = parse_line(line.rstrip("\r"))
        if sample is None:
            return False
        if not self._paused:
            self._add(sample.values, sample.labels)
        return True

    def _add(self, values: tuple[float, ...], labels: tuple[str, ...] | None) -> None:
        while len(self._series) < len(values):
            # A new position: pad its history with NaN so every curve shares the x axis (NaN is not drawn).
            self._series.append(deque([math.nan] * len(self._x), maxlen=self._max_points))
            self._labels.append(f"value {len(self._series)}")
        if labels:
            for i, label in enumerate(labels):
                self._labels[i] = label
        self._x.append(self._count)
        self._count += 1
        for i, series in enumerate(self._series):
            series.append(values[i] if i < len(values) else math.nan)
        self._dirty = True
        self.sig_sample_added.emit(values)

    # --- state ---

    @property
    def paused(self) -> bool:
        """Whether the plot is frozen (new samples are dropped)."""
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Freeze or resume the plot."""
        self._paused = paused
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.status.setText("paused" if paused else "")

    def clear(self) -> None:
        """Forget all samples and curves."""
        self._x.clear()
        self._series.clear()
        self._labels.clear()
        self._count = 0
        for curve in self._curves:
            self.plot.removeItem(curve)
        if self._legend is not None:
            self._legend.clear()
        self._curves.clear()
        self._dirty = True

    @property
    def curve_count(self) -> int:
        """Number of curves (positions seen in samples)."""
        return len(self._series)

    @property
    def sample_count(self) -> int:
        """Samples currently kept."""
        return len(self._x)

    def data(self) -> tuple[list[str], list[list[float]]]:
        """(curve labels, rows of [sample number, value, value, ...]) for the kept samples."""
        rows = [[float(x)] + [series[i] for series in self._series] for i, x in enumerate(self._x)]
        return list(self._labels), rows

    # --- drawing ---

    def _redraw(self) -> None:
        if not self._dirty or not self.isVisible():
            return
        self._dirty = False
        import pyqtgraph as pg

        colours = self._palette.plot_curves
        while len(self._curves) < len(self._series):
            i = len(self._curves)
            curve = self.plot.plot(pen=pg.mkPen(colours[i % len(colours)], width=2), name=self._labels[i],
                                   connect="finite")
            self._curves.append(curve)
        xs = list(self._x)
        for i, (curve, series) in enumerate(zip(self._curves, self._series)):
            curve.setData(xs, list(series), connect="finite")
            if i < len(self._legend.items):  # labelled lines may rename a curve after it was created
                self._legend.items[i][1].setText(self._labels[i])

    def flush(self) -> None:
        """Draw pending samples now (the timer does this at 20 fps)."""
        self._dirty = True
        self._redraw()

    def set_theme(self, palette: theme_mod.Palette) -> None:
        """Apply a :class:`ide.ui.theme.Palette`."""
        self._palette = palette
        if self._plot is None:
            return  # applied when the plot is made
        import pyqtgraph as pg

        self.plot.setBackground(palette.plot_bg)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setPen(palette.plot_fg)
            self.plot.getAxis(axis).setTextPen(palette.plot_fg)
        for i, curve in enumerate(self._curves):
            curve.setPen(pg.mkPen(palette.plot_curves[i % len(palette.plot_curves)], width=2))

    # --- export ---

    def export_csv(self, path: str | os.PathLike) -> None:
        """Write the kept samples as CSV: a header "sample,<label>,..." then one row per sample (NaN as empty)."""
        labels, rows = self.data()
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["sample", *labels])
            for row in rows:
                writer.writerow([int(row[0])] + ["" if math.isnan(v) else repr(v) for v in row[1:]])

    def export_png(self, path: str | os.PathLike) -> bool:
        """Save the plot as it looks now as a PNG image; False if the image could not be written."""
        self.flush()
        return self.plot.grab().save(str(path), "PNG")

    def _ask_export(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Export plot", "plot.csv",
                                                   "CSV data (*.csv);;PNG image (*.png)")
        if not path:
            return
        try:
            if path.lower().endswith(".png") or (chosen.startswith("PNG") and not path.lower().endswith(".csv")):
                target = path if path.lower().endswith(".png") else path + ".png"
                if not self.export_png(target):
                    raise PermissionError(13, "the image could not be written", target)
            else:
                self.export_csv(path)
        except OSError as error:
            QMessageBox.critical(self, "Could not export", f"Could not write {path}: {error.strerror or error}")
