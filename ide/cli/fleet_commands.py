"""Many boards and updates over the air: ``--port P1 --port P2 ... flash|deploy|run-project|exec`` (or
``--all-boards``) runs the command on every board at once; ``ota`` and ``ota-status`` talk to boards through an
MQTT broker. Progress lines and the summary table go to stderr and stdout respectively."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from ide.errors import UsageError

MANY_BOARD_COMMANDS = ("flash", "deploy", "run-project", "exec")
REDRAW_INTERVAL_S = 0.2


# --- several --port ------------------------------------------------------------------------------------------


def _global_ports(parser: argparse.ArgumentParser, argv: list[str], command: str | None) -> list[str]:
    """Every --port/-p value given before the command (argparse keeps only the last one). Options that take a
    value are read from the parser itself, so the scan follows whatever global options exist."""
    takes_value: set[str] = set()
    port_options: set[str] = set()
    for action in parser._actions:
        if not action.option_strings or action.nargs == 0:
            continue
        takes_value.update(action.option_strings)
        if action.dest == "port":
            port_options.update(action.option_strings)
    ports: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == command or token == "--":
            break
        name, equals, value = token.partition("=")
        if token.startswith("-p") and not token.startswith("--") and len(token) > 2 and "-p" in port_options:
            ports.append(token[2:])
        elif name in port_options and equals:
            ports.append(value)
        elif token in port_options and index + 1 < len(argv):
            ports.append(argv[index + 1])
            index += 1
        elif token in takes_value:
            index += 1
        index += 1
    return ports


def many_boards_handler(parser: argparse.ArgumentParser, argv: list[str], args: argparse.Namespace):
    """The handler for a many-board run when the command line names several boards (or --all-boards); None
    when it names one, so the ordinary single-board handler runs."""
    ports = _global_ports(parser, argv, getattr(args, "command", None))
    if not getattr(args, "all_boards", False) and len(ports) < 2:
        return None
    if args.command not in MANY_BOARD_COMMANDS:
        raise UsageError("--port", "several boards at once work with " + ", ".join(MANY_BOARD_COMMANDS))
    args.ports = ports
    return cmd_many_boards


def _job_for(args: argparse.Namespace):
    from ide.fleet.jobs import BoardOptions, DeployJob, ExecJob, FlashJob
    from ide.board.serial_link import LineSettings
    from ide.project.project import load_project
    options = BoardOptions(args.baud, args.timeout, LineSettings(dtr=bool(args.dtr), rts=bool(args.rts)))
    if args.command == "flash":
        try:
            return FlashJob(Path(args.firmware), args.chip, args.erase, args.flash_baud)
        except OSError as error:
            raise UsageError(str(args.firmware), f"cannot read: {error.strerror}") from error
    if args.command == "exec":
        return ExecJob(args.code, options)
    project = load_project(args.dir)
    if args.command == "deploy":
        return DeployJob(project, options=options)
    return DeployJob(project, run=True, follow_s=args.seconds, options=options)


class FleetProgress:
    """One line per board on stderr: redrawn in place on a terminal, a line per phase change otherwise."""

    def __init__(self, ports: list[str], stream=None):
        self.stream = stream or sys.stderr
        self.ports = ports
        self.lines = {port: "waiting" for port in ports}
        self.width = max(len(port) for port in ports)
        self.live = self.stream.isatty()
        self._lock = threading.Lock()
        self._last_phase: dict[str, str] = {}
        self._drawn = False
        self._last_draw = 0.0

    def __call__(self, state) -> None:
        text = state.phase
        if state.total:
            text += f" {state.done / state.total:6.1%}"
        with self._lock:
            self.lines[state.port] = text
            if not self.live:
                if self._last_phase.get(state.port) != state.phase:
                    self._last_phase[state.port] = state.phase
                    self.stream.write(f"{state.port:<{self.width}}  {state.phase}\n")
                    self.stream.flush()
                return
            now = time.monotonic()
            if now - self._last_draw >= REDRAW_INTERVAL_S or not state.total or state.done >= state.total:
                self._draw()
                self._last_draw = now

    def _draw(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{len(self.ports)}F")  # back to the first board's line
        for port in self.ports:
            self.stream.write(f"\x1b[2K{port:<{self.width}}  {self.lines[port]}\n")
        self._drawn = True
        self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            if self.live:
                self._draw()


def summary_table(results) -> str:
    """The summary: board, chip, MAC, result, time; a failure's result is the explained error."""
    from ide.explain import explain
    rows = [("board", "chip", "MAC", "result", "time")]
    for result in results:
        what = result.summary if result.ok else f"{result.status}: {explain(result.error) if result.error else ''}"
        rows.append((result.port, result.chip or "-", result.mac or "-", what, f"{result.seconds:.1f} s"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def cmd_many_boards(args: argparse.Namespace) -> int:
    from ide.fleet.boards import all_boards, check_ports
    from ide.fleet.runner import run_fleet
    ports = check_ports(list(dict.fromkeys(args.ports + all_boards())) if args.all_boards else args.ports)
    job = _job_for(args)
    progress = FleetProgress(ports)
    cancel = threading.Event()
    holder: dict = {}
    runner = threading.Thread(target=lambda: holder.setdefault("results", run_fleet(ports, job, progress,
                                                                                    cancel=cancel)), daemon=True)
    started = time.monotonic()
    runner.start()
    while runner.is_alive():
        try:
            runner.join(0.1)
        except KeyboardInterrupt:
            cancel.set()  # each worker stops at its next safe point (a flash write is never cut)
    progress.finish()
    results = holder.get("results", [])
    print(summary_table(results))
    if args.command == "exec":
        for result in results:
            if result.output:
                print(f"--- {result.port}")
                sys.stdout.write(result.output.decode("utf-8", "replace"))
                if not result.output.endswith(b"\n"):
                    print()
    failed = sum(not result.ok for result in results)
    print(f"{len(results) - failed} of {len(results)} boards ok in {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    return 2 if failed else 0


# --- over the air --------------------------------------------------------------------------------------------


def _broker(args: argparse.Namespace):
    from ide.project.ota import BrokerSettings
    return BrokerSettings(args.broker, args.broker_port, args.mqtt_user or None, args.mqtt_password or None,
                          args.prefix)


def cmd_ota(args: argparse.Namespace) -> int:
    from ide.project.ota import OtaPublisher, build_updates
    from ide.project.project import load_project
    if not args.device and not args.all:
        raise UsageError("--device", "name a device (--device NAME, repeatable) or use --all")
    project = load_project(args.dir)
    with OtaPublisher(_broker(args)) as publisher:
        devices = publisher.find_devices(project.name, None if args.all else args.device, wait=args.discover_s)
        updates = build_updates(project, devices)
        for update in updates.values():
            print(f"update {update.version} (seq {update.seq}, .mpy {update.target.key}): {len(update.files)} "
                  f"files, {sum(f.size for f in update.files)} bytes, to {len(devices)} device(s)", file=sys.stderr)
        progress = FleetProgress([device.id for device in devices])
        results = publisher.update(devices, updates, project, on_update=progress, timeout=args.deadline)
        progress.finish()
    print(summary_table(results))
    failed = sum(not result.ok for result in results)
    return 2 if failed else 0


def cmd_ota_status(args: argparse.Namespace) -> int:
    from ide.project.ota import OtaPublisher, describe_seen
    with OtaPublisher(_broker(args)) as publisher:
        devices = publisher.find_devices(args.project, None, wait=args.discover_s, required=False)
    rows = [("device", "project", "version", "state", "last seen")]
    for device in devices:
        rows.append((device.id, device.project, device.version, device.state, describe_seen(device)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return 0


def _broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", required=True, help="MQTT broker host the boards use")
    parser.add_argument("--broker-port", type=int, default=1883)
    parser.add_argument("--mqtt-user", default="")
    parser.add_argument("--mqtt-password", default=os.environ.get("MIPY_MQTT_PASSWORD", ""),
                        help="(default: $MIPY_MQTT_PASSWORD)")
    parser.add_argument("--prefix", default="mipy", help="topic prefix, as the boards' ota_prefix (default mipy)")
    parser.add_argument("--discover-s", type=float, default=2.0,
                        help="seconds to collect the devices' retained status (default 2)")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ota", help="update boards running this project over the air, through MQTT")
    parser.add_argument("dir", type=Path, help="the project folder")
    parser.add_argument("--device", action="append", default=[], help="device id or name (repeatable)")
    parser.add_argument("--all", action="store_true", help="every device of this project seen on the broker")
    parser.add_argument("--deadline", type=float, default=300.0,
                        help="seconds to wait for all devices to report the new version (default 300)")
    _broker_options(parser)
    parser.set_defaults(handler=cmd_ota)

    parser = subparsers.add_parser("ota-status", help="devices on the broker: version, update state, last seen")
    parser.add_argument("--project", default=None, help="only this project's devices")
    _broker_options(parser)
    parser.set_defaults(handler=cmd_ota_status)
