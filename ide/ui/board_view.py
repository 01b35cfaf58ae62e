"""The Board view: the virtual board drawn as an ESP32 DevKit with its pins' live state (mode, level, PWM duty as
brightness, the on-board LED on GPIO2, NeoPixel colours), the inputs the user drives while a program runs (the
BOOT button on GPIO0, an input pin's level, an ADC voltage, the DHT sensor) and the Wi-Fi networks it offers.

Everything goes through the board's side channel (:mod:`ide.board.virtual.side_channel`), never the REPL, so the
view is live while a program runs and costs the serial line nothing. ``install_board_view(window)`` adds the dock
(shown for the virtual board only) and its View menu entry; "Try the blink template" creates the blink project,
connects to the virtual board and runs it, in one click.
"""

from __future__ import annotations

import logging
from pathlib import Path

import platformdirs
from PyQt6.QtCore import QPointF, QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QFont, QPainter, QPen, QRadialGradient
from PyQt6.QtWidgets import (QComboBox, QDockWidget, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                             QPushButton, QScrollArea, QSizePolicy, QSlider, QSpinBox, QVBoxLayout, QWidget)

from ide.board.virtual import side_channel, wifi
from ide.errors import MipyError
from ide.explain import explain

log = logging.getLogger(__name__)

#: How often the view looks for a new state (the channel's generation counter; a dict copy when it moved).
REFRESH_MS = 40
VIRTUAL_PORT = "virtual"
#: The pin headers of an ESP32 DevKitC (30 pins), top to bottom: (label, GPIO or None).
LEFT_HEADER = (("EN", None), ("VP", 36), ("VN", 39), ("D34", 34), ("D35", 35), ("D32", 32), ("D33", 33),
               ("D25", 25), ("D26", 26), ("D27", 27), ("D14", 14), ("D12", 12), ("D13", 13), ("GND", None),
               ("VIN", None))
RIGHT_HEADER = (("D23", 23), ("D22", 22), ("TX0", 1), ("RX0", 3), ("D21", 21), ("D19", 19), ("D18", 18),
                ("D5", 5), ("TX2", 17), ("RX2", 16), ("D4", 4), ("D2", 2), ("D15", 15), ("GND", None),
                ("3V3", None))
ADC_PINS = (34, 35, 32, 33, 36, 39)
INPUT_PINS = (4, 5, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27, 32, 33, 34, 35, 36, 39)
LED_PIN = 2
BLINK_TEMPLATE = "blink"


def led_brightness(entry: dict | None) -> float:
    """0..1: how bright an LED on this pin glows (an output's level, or a PWM's duty)."""
    if not entry:
        return 0.0
    if entry.get("mode") == "PWM":
        return entry.get("duty_u16", 0) / 65535
    if entry.get("mode") in ("OUT", "OPEN_DRAIN"):
        return 1.0 if entry.get("value") else 0.0
    return 0.0


class BoardDrawing(QWidget):
    """The DevKit itself: the module, the two pin headers with each pin's state, the LED, BOOT and EN."""

    PAD = 13
    ROW = 25  # header pitch on screen

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.state: dict | None = None
        self.setMinimumSize(290, 500)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def set_state(self, state: dict | None) -> None:
        self.state = state
        self.update()

    def sizeHint(self):  # noqa: N802
        from PyQt6.QtCore import QSize
        return QSize(320, 500 + 20 * len((self.state or {}).get("neopixels") or {}))

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        width = self.width()
        board = QRectF(width / 2 - 135, 8, 270, 480)
        p.setPen(QPen(QColor("#0b2a4a"), 2))
        p.setBrush(QColor("#123f6e" if self.state else "#3a4654"))
        p.drawRoundedRect(board, 10, 10)
        # The ESP32-WROOM module: antenna and metal can.
        module = QRectF(board.center().x() - 50, board.top() + 10, 100, 150)
        p.setPen(QPen(QColor("#222"), 1))
        p.setBrush(QColor("#1d1d1d"))
        p.drawRect(QRectF(module.left(), module.top(), module.width(), 34))
        p.setBrush(QColor("#b9bec4"))
        p.drawRoundedRect(QRectF(module.left() + 6, module.top() + 38, module.width() - 12, 106), 3, 3)
        p.setPen(QColor("#3b3f44"))
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        p.setFont(font)
        p.drawText(QRectF(module.left(), module.top() + 60, module.width(), 40), Qt.AlignmentFlag.AlignCenter,
                   "ESP32\nWROOM-32\nvirtual")
        pins = (self.state or {}).get("pins", {})
        inputs = (self.state or {}).get("inputs", {})
        for column, header in ((0, LEFT_HEADER), (1, RIGHT_HEADER)):
            x = board.left() + 16 if column == 0 else board.right() - 16
            for row, (label, gpio) in enumerate(header):
                self._draw_pin(p, QPointF(x, board.top() + 22 + row * self.ROW), label, gpio, pins, inputs, column)
        # The on-board LED (blue on a DevKitC) next to GPIO2, the power LED, BOOT and EN.
        led_centre = QPointF(board.center().x() + 40, board.bottom() - 66)
        self._draw_led(p, led_centre, led_brightness(pins.get(str(LED_PIN))), QColor("#3d8bff"), "GPIO2 LED")
        self._draw_led(p, QPointF(board.center().x() - 40, board.bottom() - 66), 1.0 if self.state else 0.0,
                       QColor("#ff3b30"), "power")
        for x_offset, text, pressed in ((-62, "EN", False), (38, "BOOT", inputs.get("0") == 0)):
            button = QRectF(board.center().x() + x_offset, board.bottom() - 34, 24, 18)
            p.setPen(QPen(QColor("#111"), 1))
            p.setBrush(QColor("#555" if pressed else "#c9c9c9"))
            p.drawRoundedRect(button, 3, 3)
            p.setPen(QColor("#e8eef5"))
            p.drawText(QRectF(button.right() + 3, button.top(), 40, 18), Qt.AlignmentFlag.AlignVCenter, text)
        # NeoPixel strips, under the board.
        y = board.bottom() + 16
        for pin, pixels in ((self.state or {}).get("neopixels") or {}).items():
            p.setPen(self.palette().text().color())
            p.drawText(QRectF(4, y - 9, 60, 18), Qt.AlignmentFlag.AlignVCenter, f"GPIO{pin}")
            for index, colour in enumerate(pixels[:24]):
                centre = QPointF(66 + index * 16, y)
                p.setPen(QPen(QColor("#333"), 1))
                p.setBrush(QColor(*colour[:3]))
                p.drawEllipse(centre, 6, 6)
            y += 20
        p.end()

    def _draw_pin(self, p: QPainter, centre: QPointF, label: str, gpio: int | None, pins: dict, inputs: dict,
                  column: int) -> None:
        entry = pins.get(str(gpio)) if gpio is not None else None
        mode = (entry or {}).get("mode")
        radius = self.PAD / 2
        fill, ring = QColor("#d4af37"), QColor("#8a6d1c")  # a plain gold pad
        if mode in ("OUT", "OPEN_DRAIN"):
            fill = QColor("#ff5a36") if entry.get("value") else QColor("#3b2a26")
            ring = QColor("#ffb199")
        elif mode == "PWM":
            fill = QColor(255, 140, 0, int(40 + 215 * led_brightness(entry)))
            ring = QColor("#ffc266")
        elif mode == "IN":
            level = inputs.get(str(gpio))
            fill = QColor("#35c46a") if level == 1 else QColor("#1e4d2f") if level == 0 else QColor("#6b7b70")
            ring = QColor("#a6f0c0")
        elif mode == "ADC":
            fill, ring = QColor("#f2d43d"), QColor("#fff2a8")
        p.setPen(QPen(ring, 2))
        p.setBrush(fill)
        p.drawEllipse(centre, radius, radius)
        p.setPen(QColor("#e8eef5"))
        text = label + (f" {mode}" if mode and mode != "-" else "")
        box = QRectF(centre.x() + 10, centre.y() - 9, 62, 18) if column == 0 else \
            QRectF(centre.x() - 72, centre.y() - 9, 62, 18)
        align = Qt.AlignmentFlag.AlignLeft if column == 0 else Qt.AlignmentFlag.AlignRight
        p.drawText(box, align | Qt.AlignmentFlag.AlignVCenter, text)

    @staticmethod
    def _draw_led(p: QPainter, centre: QPointF, brightness: float, colour: QColor, label: str) -> None:
        if brightness > 0:
            glow = QRadialGradient(centre, 34)
            halo = QColor(colour)
            halo.setAlpha(int(200 * brightness))
            glow.setColorAt(0.0, halo)
            glow.setColorAt(1.0, QColor(colour.red(), colour.green(), colour.blue(), 0))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QBrush(glow))
            p.drawEllipse(centre, 34, 34)
        body = QColor(colour) if brightness > 0 else QColor("#d8dde3")
        if brightness > 0:
            body = body.lighter(100 + int(60 * brightness))
        p.setPen(QPen(QColor("#222"), 1))
        p.setBrush(body)
        p.drawRoundedRect(QRectF(centre.x() - 8, centre.y() - 5, 16, 10), 2, 2)
        p.setPen(QColor("#e8eef5"))
        p.drawText(QRectF(centre.x() - 40, centre.y() + 6, 80, 16), Qt.AlignmentFlag.AlignCenter, label)


class BoardView(QWidget):
    """The dock's content. It reads the side channel of the virtual board running in this process."""

    sig_try_blink = pyqtSignal()
    """The user asked for the blink template to run (the window creates, connects and runs it)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.channel: side_channel.SideChannel | None = None
        self._generation = -1
        self.status = QLabel()
        self.status.setObjectName("board_view_status")
        self.status.setWordWrap(True)
        self.try_blink_button = QPushButton("▶ Try the blink template")
        self.try_blink_button.setObjectName("board_view_try_blink")
        self.try_blink_button.setToolTip("Create the blink project, connect to the virtual board and run it")
        self.try_blink_button.clicked.connect(self.sig_try_blink)
        self.drawing = BoardDrawing()
        self.led_label = QLabel()
        self.led_label.setObjectName("board_view_led")

        self.boot_button = QPushButton("BOOT (GPIO0)")
        self.boot_button.setToolTip("Hold to pull GPIO0 low, as the board's BOOT button does")
        self.boot_button.pressed.connect(lambda: self._apply(lambda c: c.press_boot(True)))
        self.boot_button.released.connect(lambda: self._apply(lambda c: c.press_boot(False)))
        self.input_pin = QComboBox()
        for pin in INPUT_PINS:
            self.input_pin.addItem(f"GPIO{pin}", pin)
        input_row = QHBoxLayout()
        input_row.addWidget(self.input_pin)
        for text, level in (("High", 1), ("Low", 0), ("Float", None)):
            button = QPushButton(text)
            button.setMinimumWidth(10)
            button.clicked.connect(lambda _c=False, lv=level: self._apply(
                lambda c: c.set_input(self.input_pin.currentData(), lv)))
            input_row.addWidget(button)
        self.adc_pin = QComboBox()
        for pin in ADC_PINS:
            self.adc_pin.addItem(f"GPIO{pin}", pin)
        self.adc_slider = QSlider(Qt.Orientation.Horizontal)
        self.adc_slider.setRange(0, 330)
        self.adc_slider.setValue(165)
        self.adc_value = QLabel("1.65 V")
        self.adc_slider.valueChanged.connect(self._adc_changed)
        adc_row = QHBoxLayout()
        adc_row.addWidget(self.adc_pin)
        adc_row.addWidget(self.adc_slider, 1)
        adc_row.addWidget(self.adc_value)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(*side_channel.DHT_TEMPERATURE_RANGE)
        self.temperature.setSuffix(" °C")
        self.temperature.setValue(22.0)
        self.humidity = QSpinBox()
        self.humidity.setRange(0, 100)
        self.humidity.setSuffix(" %")
        self.humidity.setValue(45)
        self.temperature.valueChanged.connect(self._dht_changed)
        self.humidity.valueChanged.connect(self._dht_changed)
        dht_row = QHBoxLayout()
        dht_row.addWidget(self.temperature)
        dht_row.addWidget(self.humidity)
        inputs = QGroupBox("Inputs (reach the running program at once)")
        form = QFormLayout(inputs)
        form.addRow("Button", self.boot_button)
        form.addRow("Input pin", input_row)
        form.addRow("ADC", adc_row)
        form.addRow("DHT sensor", dht_row)
        self.inputs_box = inputs

        self.wifi_box = QGroupBox("Wi-Fi networks in range")
        self.networks_label = QLabel()
        self.networks_label.setObjectName("board_view_networks")
        self.networks_label.setWordWrap(True)
        self.networks_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.wifi_status = QLabel()
        self.wifi_status.setObjectName("board_view_wifi")
        self.wifi_status.setWordWrap(True)
        self.wifi_status.setOpenExternalLinks(True)
        wifi_layout = QVBoxLayout(self.wifi_box)
        wifi_layout.addWidget(self.networks_label)
        wifi_layout.addWidget(self.wifi_status)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b")

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.status)
        layout.addWidget(self.try_blink_button)
        layout.addWidget(self.drawing, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.led_label)
        layout.addWidget(inputs)
        layout.addWidget(self.wifi_box)
        layout.addWidget(self.error)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    # --- reading ---

    def refresh(self) -> None:
        """Follow the virtual board running in this process; redraw when its state moved."""
        channel = side_channel.local_channel()
        if channel is not self.channel:
            self.channel = channel
            self._generation = -1
        if channel is None:
            if self._generation != -2:
                self._generation = -2
                self._show(None)
            return
        if channel.generation != self._generation:
            state = channel.snapshot()
            self._generation = state["generation"]
            self._show(state)

    def _show(self, state: dict | None) -> None:
        self.drawing.set_state(state)
        self.drawing.updateGeometry()
        self.inputs_box.setEnabled(state is not None)
        if state is None:
            self.status.setText("The virtual board is an ESP32 simulated on this computer. Connect to it (or try "
                                "the blink template) to see its pins here.")
            self.led_label.setText("")
            self._show_networks([{"ssid": n.ssid, "password": n.password, "security": n.security}
                                 for n in wifi.NETWORKS], None, None)
            return
        self.status.setText(f"Virtual board ({state['chip'].upper()}), files in {state['board_dir']}")
        brightness = led_brightness(state["pins"].get(str(LED_PIN)))
        self.led_label.setText("On-board LED (GPIO2): " + ("lit" if brightness >= 1 else
                                                            f"{brightness:.0%}" if brightness else "off"))
        self._show_networks(state["networks"], state["network"], state["ports"])

    def _show_networks(self, networks: list[dict], network: dict | None, ports: dict | None) -> None:
        rows = []
        for n in networks:
            secret = f"password <b>{n['password']}</b>" if n["password"] else "no password"
            rows.append(f"<b>{n['ssid']}</b> ({n['security']}), {secret}")
        self.networks_label.setText("<br>".join(rows))
        if network is None:
            self.wifi_status.setText("")
            return
        text = wifi.describe_state(network, ports)
        url = wifi.portal_url(ports)
        if url and (network.get("ap") or {}).get("active"):
            text = text.replace(url, f'<a href="{url}">{url}</a>') + " (open it in your browser)"
        self.wifi_status.setText("Board: " + text)

    # --- driving ---

    def _apply(self, change) -> None:
        channel = self.channel or side_channel.local_channel()
        if channel is None:
            self.error.setText("Connect to the virtual board first.")
            return
        try:
            change(channel)
        except MipyError as error:
            self.error.setText(explain(error))
            return
        self.error.clear()
        self.refresh()

    def _adc_changed(self, centivolts: int) -> None:
        volts = centivolts / 100
        self.adc_value.setText(f"{volts:.2f} V")
        self._apply(lambda c: c.set_adc(self.adc_pin.currentData(), volts))

    def _dht_changed(self, _value=None) -> None:
        self._apply(lambda c: c.set_dht(self.temperature.value(), float(self.humidity.value())))


# --- in the window ---------------------------------------------------------------------------------------------


def default_projects_dir() -> Path:
    return Path(platformdirs.user_documents_dir()) / "MiPy Studio"


class BlinkLauncher:
    """One click from a fresh start to a blinking LED: create (or reuse) the blink project, connect to the virtual
    board, run the project (the window's own Run project)."""

    def __init__(self, window, projects_dir: Path | None = None):
        self.window = window
        self.projects_dir = projects_dir or default_projects_dir()
        self._waiting = False
        window.connection.sig_connected.connect(self._on_connected)

    def project_folder(self) -> Path:
        from ide.project.project import PROJECT_FILE
        folder = self.projects_dir / BLINK_TEMPLATE
        number = 1
        while folder.exists() and not (folder / PROJECT_FILE).exists() and any(folder.iterdir()):
            number += 1
            folder = self.projects_dir / f"{BLINK_TEMPLATE}-{number}"
        return folder

    def launch(self) -> None:
        from ide.project.new_project import ProjectSettings, create_project
        from ide.project.project import PROJECT_FILE
        from ide.project.templates import get_template
        window = self.window
        folder = self.project_folder()
        try:
            if not (folder / PROJECT_FILE).exists():
                create_project(get_template(BLINK_TEMPLATE), folder, ProjectSettings(name=BLINK_TEMPLATE,
                                                                                     board="esp32"))
        except (MipyError, OSError) as error:
            window.show_error(error, "Could not create the blink project")
            return
        controller = window.project_controller
        if controller.open_project(folder) is None:
            return
        window.open_file(folder / "main.py")
        window.statusBar().showMessage(f"Blink project in {folder}", 8000)
        if window.connection.connected and window.connection.port == VIRTUAL_PORT:
            controller.run_project()
            return
        if window.connection.connected:
            window.disconnect_board()
        self._waiting = True
        window.connect_board(VIRTUAL_PORT)

    def _on_connected(self, port: str, _greeting: bytes) -> None:
        if self._waiting and port == VIRTUAL_PORT:
            self._waiting = False
            self.window.project_controller.run_project()


def install_board_view(window, projects_dir: Path | None = None) -> QDockWidget:
    """Add the Board view dock to ``window`` (right side, View menu), shown while the virtual board is picked."""
    view = BoardView(window)
    dock = QDockWidget("Board view", window)
    dock.setObjectName("dock_board_view")
    dock.setWidget(view)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == "View":
            action.menu().addAction(dock.toggleViewAction())
            break
    launcher = BlinkLauncher(window, projects_dir)
    view.sig_try_blink.connect(launcher.launch)
    window.board_view, window.board_view_dock, window.blink_launcher = view, dock, launcher
    shown_for = {"port": None}

    def follow_port(*_args) -> None:
        # Show the dock when the virtual board becomes the board in use, hide it for a real one; between
        # changes the user's own choice (closing it) stands.
        port = window.connection.port if window.connection.connected else window.port_combo.currentData()
        if port == shown_for["port"]:
            return
        shown_for["port"] = port
        dock.setVisible(port == VIRTUAL_PORT)

    window.port_combo.currentIndexChanged.connect(follow_port)
    window.connection.sig_connected.connect(follow_port)
    if hasattr(window, "sig_ports_listed"):
        window.sig_ports_listed.connect(follow_port)
    dock.setVisible(False)
    follow_port()
    return dock
