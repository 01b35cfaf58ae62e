"""Board ▸ Many boards…: the same job on many boards at once (flash, deploy, run project, a line of Python), a
row per board; and the devices that take updates over the air, with their version, state and last seen time.

The work is ``ide.fleet`` and ``ide.project.ota`` (the command line's too); this file only shows it. Jobs run on
a plain worker thread; every result reaches the table through a queued Qt signal, so the UI thread never waits
on a board or the broker.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import (QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                             QLineEdit, QListWidget, QListWidgetItem, QPushButton, QSpinBox, QTableWidget,
                             QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from ide.explain import explain

JOBS = (("Run a line of Python", "exec"), ("Deploy the project", "deploy"), ("Run the project", "run-project"),
        ("Install MicroPython (flash firmware)", "flash"))
BOARD_COLUMNS = ("board", "chip", "MAC", "now", "result", "time")
DEVICE_COLUMNS = ("device", "project", "version", "state", "last seen", "result")


class FleetSignals(QObject):
    """Signals from the worker threads; Qt queues them to the dialog's thread."""

    sig_progress = pyqtSignal(object)        # ide.fleet.runner.BoardProgress
    sig_result = pyqtSignal(object)          # ide.fleet.runner.BoardResult
    sig_finished = pyqtSignal(object)        # list of results, or an exception that stopped the whole job
    sig_devices = pyqtSignal(object)         # list of ide.project.ota.DeviceStatus, or an exception


def _item(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    return item


class BoardsTab(QWidget):
    """The boards on USB (and named virtual boards), a job, and a row per board."""

    def __init__(self, project_of, parent=None):
        super().__init__(parent)
        self.project_of = project_of
        self.signals = FleetSignals()
        self.signals.sig_progress.connect(self._on_progress)
        self.signals.sig_result.connect(self._on_result)
        self.signals.sig_finished.connect(self._on_finished)
        self.cancel: threading.Event | None = None
        self.rows: dict[str, int] = {}

        self.ports = QListWidget()
        self.ports.setToolTip("Tick the boards to work on")
        self.add_virtual = QLineEdit()
        self.add_virtual.setPlaceholderText("name: add a virtual board (virtual:NAME)")
        self.add_virtual.returnPressed.connect(self._add_virtual)
        refresh = QPushButton("Find boards")
        refresh.clicked.connect(self.refresh_ports)
        self.job = QComboBox()
        for label, key in JOBS:
            self.job.addItem(label, key)
        self.job.currentIndexChanged.connect(self._job_changed)
        self.argument = QLineEdit("print('hello')")
        self.browse = QPushButton("Choose…")
        self.browse.clicked.connect(self._choose_firmware)
        self.run_button = QPushButton("Run on the ticked boards")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.stop)
        self.table = QTableWidget(0, len(BOARD_COLUMNS))
        self.table.setHorizontalHeaderLabels(BOARD_COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.summary = QLabel("")

        argument_row = QHBoxLayout()
        argument_row.addWidget(self.argument)
        argument_row.addWidget(self.browse)
        form = QFormLayout()
        form.addRow("Job", self.job)
        form.addRow("With", argument_row)
        ports_row = QHBoxLayout()
        ports_row.addWidget(self.add_virtual)
        ports_row.addWidget(refresh)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Boards"))
        layout.addWidget(self.ports, 1)
        layout.addLayout(ports_row)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 2)
        layout.addWidget(self.summary)
        self._job_changed()
        self.refresh_ports()

    # --- boards ---------------------------------------------------------------------------------------------
    def refresh_ports(self) -> None:
        from ide.board import ports as port_discovery
        from ide.fleet.boards import LIKELY_BOARD, named_virtual_boards_dir
        ticked = set(self.selected_ports())
        self.ports.clear()
        for info in port_discovery.list_board_ports(include_unlikely=False):
            if info.is_virtual:
                continue
            self.add_port(info.device, info.description, info.likelihood >= LIKELY_BOARD or info.device in ticked)
        folder = named_virtual_boards_dir()
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_dir():
                    name = "virtual:" + path.name
                    self.add_port(name, f"Virtual board {path.name}", name in ticked)

    def add_port(self, port: str, description: str = "", ticked: bool = True) -> None:
        for row in range(self.ports.count()):
            if self.ports.item(row).data(Qt.ItemDataRole.UserRole) == port:
                return
        item = QListWidgetItem(f"{port}   {description}" if description and description != port else port)
        item.setData(Qt.ItemDataRole.UserRole, port)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
        self.ports.addItem(item)

    def _add_virtual(self) -> None:
        name = self.add_virtual.text().strip()
        if name:
            self.add_port(name if ":" in name or name.startswith("/") else "virtual:" + name)
            self.add_virtual.clear()

    def selected_ports(self) -> list[str]:
        return [self.ports.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.ports.count())
                if self.ports.item(row).checkState() == Qt.CheckState.Checked]

    # --- the job ----------------------------------------------------------------------------------------------
    def _job_changed(self) -> None:
        key = self.job.currentData()
        self.browse.setVisible(key == "flash")
        self.argument.setEnabled(key in ("flash", "exec"))
        if key == "flash":
            self.argument.setPlaceholderText("firmware .bin file")
            if not self.argument.text().endswith(".bin"):
                self.argument.clear()
        elif key == "exec":
            self.argument.setPlaceholderText("a line of Python")
        else:
            project = self.project_of()
            self.argument.setText(str(project.root) if project else "")
            self.argument.setPlaceholderText("open a project first (Project ▸ Open)")

    def _choose_firmware(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Firmware", "", "Firmware (*.bin)")
        if path:
            self.argument.setText(path)

    def make_job(self):
        """The job the form describes (errors are MipyError, explained by the caller)."""
        from ide.errors import UsageError
        from ide.fleet.jobs import DeployJob, ExecJob, FlashJob
        key = self.job.currentData()
        if key == "exec":
            return ExecJob(self.argument.text())
        if key == "flash":
            try:
                return FlashJob(Path(self.argument.text()))
            except OSError as error:
                raise UsageError(self.argument.text() or "firmware", f"cannot read: {error.strerror}") from error
        project = self.project_of()
        if project is None:
            raise UsageError("project", "open a project first (Project ▸ Open)")
        return DeployJob(project, run=key == "run-project")

    def start(self) -> None:
        from ide.errors import MipyError
        from ide.fleet.boards import check_ports
        from ide.fleet.runner import run_fleet
        try:
            ports = check_ports(self.selected_ports())
            job = self.make_job()
        except MipyError as error:
            self.summary.setText(explain(error))
            return
        self.table.setRowCount(0)
        self.rows = {}
        for port in ports:
            row = self.table.rowCount()
            self.table.insertRow(row)
            for column, text in enumerate((port, "", "", "waiting", "", "")):
                self.table.setItem(row, column, _item(text))
            self.rows[port] = row
        self.cancel = threading.Event()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.summary.setText(f"{job.name} on {len(ports)} boards…")
        signals, cancel = self.signals, self.cancel

        def work() -> None:
            try:
                results = run_fleet(ports, job, signals.sig_progress.emit, signals.sig_result.emit, cancel)
            except Exception as error:  # shown in the dialog; a failing board is a row, not this
                signals.sig_finished.emit(error)
                return
            signals.sig_finished.emit(results)

        threading.Thread(target=work, name="many-boards", daemon=True).start()

    def stop(self) -> None:
        if self.cancel is not None:
            self.cancel.set()
            self.summary.setText("stopping at each board's next safe point…")

    def _on_progress(self, state) -> None:
        row = self.rows.get(state.port)
        if row is not None:
            text = state.phase + (f" {100 * state.done // state.total}%" if state.total else "")
            self.table.item(row, 3).setText(text)

    def _on_result(self, result) -> None:
        row = self.rows.get(result.port)
        if row is None:
            return
        what = result.summary if result.ok else f"{result.status}: {explain(result.error) if result.error else ''}"
        for column, text in ((1, result.chip or "-"), (2, result.mac or "-"), (3, result.status), (4, what),
                             (5, f"{result.seconds:.1f} s")):
            self.table.item(row, column).setText(text)
        self.table.item(row, 4).setToolTip(what + (("\n\n" + result.output.decode("utf-8", "replace"))
                                                   if result.output else ""))

    def _on_finished(self, outcome) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if isinstance(outcome, BaseException):
            self.summary.setText(explain(outcome))
            return
        failed = sum(not result.ok for result in outcome)
        self.summary.setText(f"{len(outcome) - failed} of {len(outcome)} boards ok")


class OtaTab(QWidget):
    """The devices on the broker: version, state, last seen; update the ticked ones with the open project."""

    def __init__(self, project_of, parent=None):
        super().__init__(parent)
        self.project_of = project_of
        self.signals = FleetSignals()
        self.signals.sig_devices.connect(self._on_devices)
        self.signals.sig_progress.connect(self._on_progress)
        self.signals.sig_finished.connect(self._on_finished)
        self.devices: list = []
        self.results: dict = {}
        self.last_result = ""
        self.host = QLineEdit()
        self.host.setPlaceholderText("broker address, as the boards' mqtt_server")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(1883)
        self.prefix = QLineEdit("mipy")
        refresh = QPushButton("Show devices")
        refresh.clicked.connect(self.refresh)
        self.update_button = QPushButton("Update the ticked devices with the open project")
        self.update_button.clicked.connect(self.update_devices)
        self.table = QTableWidget(0, len(DEVICE_COLUMNS))
        self.table.setHorizontalHeaderLabels(DEVICE_COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.summary = QLabel("")
        form = QFormLayout()
        form.addRow("Broker", self.host)
        form.addRow("Port", self.port)
        form.addRow("Topic prefix", self.prefix)
        buttons = QHBoxLayout()
        buttons.addWidget(refresh)
        buttons.addWidget(self.update_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        project = project_of()
        if project is not None:
            self._prefill(project)

    def _prefill(self, project) -> None:
        import ast
        try:
            for node in ast.parse((project.root / "config.py").read_text(encoding="utf-8")).body:
                if getattr(node, "targets", None) and getattr(node.targets[0], "id", "") in ("mqtt_server",
                                                                                            "mqtt_port"):
                    value = ast.literal_eval(node.value)
                    if node.targets[0].id == "mqtt_server" and isinstance(value, str):
                        self.host.setText(value)
                    elif isinstance(value, int):
                        self.port.setValue(value)
        except (OSError, SyntaxError, ValueError):
            pass

    def broker(self):
        from ide.project.ota import BrokerSettings
        return BrokerSettings(self.host.text().strip(), self.port.value(), prefix=self.prefix.text().strip() or "mipy")

    def refresh(self) -> None:
        from ide.project.ota import OtaPublisher
        broker, signals = self.broker(), self.signals
        self.summary.setText(f"asking {broker.host}:{broker.port}…")

        def work() -> None:
            try:
                with OtaPublisher(broker) as publisher:
                    signals.sig_devices.emit(publisher.find_devices(None, wait=1.5, required=False))
            except Exception as error:
                signals.sig_devices.emit(error)

        threading.Thread(target=work, name="ota-devices", daemon=True).start()

    def _on_devices(self, devices) -> None:
        from ide.project.ota import describe_seen
        if isinstance(devices, BaseException):
            self.summary.setText(explain(devices))
            return
        self.devices = devices
        self.table.setRowCount(0)
        project = self.project_of()
        for device in devices:
            row = self.table.rowCount()
            self.table.insertRow(row)
            first = _item(device.id)
            first.setFlags(first.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            mine = project is not None and device.project == project.name
            first.setCheckState(Qt.CheckState.Checked if mine else Qt.CheckState.Unchecked)
            self.table.setItem(row, 0, first)
            result = self.results.get(device.id)
            said = (result.summary if result.ok else explain(result.error)) if result else device.why
            for column, text in enumerate((device.project, device.version, device.state, describe_seen(device),
                                           said), start=1):
                self.table.setItem(row, column, _item(text))
        self.summary.setText(f"{len(devices)} devices at {time.strftime('%H:%M:%S')}"
                             + (f"; {self.last_result}" if self.last_result else ""))

    def ticked(self) -> list:
        return [device for row, device in enumerate(self.devices)
                if self.table.item(row, 0).checkState() == Qt.CheckState.Checked]

    def update_devices(self) -> None:
        from ide.project.ota import OtaPublisher, build_updates
        project, devices = self.project_of(), self.ticked()
        if project is None or not devices:
            self.summary.setText("Open the project, show the devices and tick those to update.")
            return
        broker, signals = self.broker(), self.signals
        self.update_button.setEnabled(False)
        self.summary.setText(f"updating {len(devices)} devices…")

        def work() -> None:
            try:
                with OtaPublisher(broker) as publisher:
                    updates = build_updates(project, devices)
                    results = publisher.update(devices, updates, project, on_update=signals.sig_progress.emit)
                signals.sig_finished.emit(results)
            except Exception as error:
                signals.sig_finished.emit(error)

        threading.Thread(target=work, name="ota-update", daemon=True).start()

    def _row_of(self, device_id: str) -> int | None:
        for row, device in enumerate(self.devices):
            if device.id == device_id:
                return row
        return None

    def _on_progress(self, state) -> None:
        row = self._row_of(state.port)
        if row is not None:
            self.table.item(row, 3).setText(state.phase + (f" {100 * state.done // state.total}%"
                                                           if state.total else ""))

    def _on_finished(self, outcome) -> None:
        self.update_button.setEnabled(True)
        if isinstance(outcome, BaseException):
            self.summary.setText(explain(outcome))
            return
        for result in outcome:
            row = self._row_of(result.port)
            if row is not None:
                self.table.item(row, 5).setText(result.summary if result.ok else explain(result.error))
        failed = sum(not result.ok for result in outcome)
        self.last_result = f"{len(outcome) - failed} of {len(outcome)} devices updated"
        self.summary.setText(self.last_result)
        self.results = {result.port: result for result in outcome}
        self.refresh()  # their new version and state


class ManyBoardsDialog(QDialog):
    def __init__(self, project_of, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Many boards")
        self.resize(900, 640)
        self.tabs = QTabWidget()
        self.boards_tab = BoardsTab(project_of)
        self.ota_tab = OtaTab(project_of)
        self.tabs.addTab(self.boards_tab, "USB boards")
        self.tabs.addTab(self.ota_tab, "Over the air")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)


def open_many_boards(window) -> ManyBoardsDialog:
    """Board ▸ Many boards… (modeless: the window stays usable while the boards work)."""
    controller = getattr(window, "project_controller", None)
    dialog = ManyBoardsDialog(lambda: controller.current_project() if controller else None, window)
    dialog.show()
    window.many_boards_dialog = dialog
    return dialog
