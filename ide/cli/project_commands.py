"""Project commands: templates, new, build, deploy, run-project."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from ide.board.board import Board
from ide.cli import require_port, virtual_config
from ide.project.build import HOST_TARGET, MpyTarget, build_project
from ide.project.heap_budget import check as check_heap
from ide.project.new_project import ProjectSettings, ap_password_of, create_project
from ide.project.project import BOARD_TYPES, load_project
from ide.project.run_project import deploy, follow_output, run_project
from ide.project.templates import get_template, list_templates


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("templates", help="list the project templates")
    parser.set_defaults(handler=cmd_templates)

    parser = subparsers.add_parser("new", help="create a project from a template in a new folder")
    parser.add_argument("template", help="template name (see 'mipy-studio templates')")
    parser.add_argument("dir", type=Path, help="the project folder (created; must be empty)")
    parser.add_argument("--name", default="", help="device name (default: the folder's name)")
    parser.add_argument("--board", choices=BOARD_TYPES, default="esp32")
    parser.add_argument("--wifi-ssid", default="", help="Wi-Fi network name (written to wifi.json, not committed)")
    parser.add_argument("--wifi-password", default=os.environ.get("MIPY_WIFI_PASSWORD", ""),
                        help="Wi-Fi password (default: $MIPY_WIFI_PASSWORD)")
    parser.add_argument("--mqtt-server", default="")
    parser.add_argument("--mqtt-port", type=int, default=1883)
    parser.add_argument("--mqtt-user", default="")
    parser.add_argument("--mqtt-password", default=os.environ.get("MIPY_MQTT_PASSWORD", ""),
                        help="MQTT password (written to secrets.json; default: $MIPY_MQTT_PASSWORD)")
    parser.set_defaults(handler=cmd_new)

    parser = subparsers.add_parser("build", help="compile a project into its build/ folder (no board needed)")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--mpy", default="", help="target .mpy version, e.g. 6.3 or 5 (default: with --port, the "
                        "board's; else 6.3)")
    parser.add_argument("--arch", default=None, help="native code architecture (xtensa, xtensawin, ...)")
    parser.set_defaults(handler=cmd_build)

    parser = subparsers.add_parser("deploy", help="build and upload what changed to the board (no restart)")
    parser.add_argument("dir", type=Path)
    parser.set_defaults(handler=cmd_deploy)

    parser = subparsers.add_parser("run-project",
                                   help="stop the board, build, upload what changed, restart and show the output "
                                        "(Ctrl-C stops)")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (default: Ctrl-C)")
    parser.set_defaults(handler=cmd_run_project)


def _out(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def cmd_templates(args: argparse.Namespace) -> int:
    for template in list_templates():
        print(f"{template.name:<14} {template.title}: {template.description}")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    settings = ProjectSettings(name=args.name, board=args.board, wifi_ssid=args.wifi_ssid,
                               wifi_password=args.wifi_password, mqtt_server=args.mqtt_server,
                               mqtt_port=args.mqtt_port, mqtt_user=args.mqtt_user, mqtt_password=args.mqtt_password)
    project = create_project(get_template(args.template), args.dir, settings)
    print(f"created {project.root} from '{args.template}'")
    verdict = check_heap(get_template(args.template), args.board)
    if verdict is not None:
        print(verdict.describe())
    if ap_password_of(project.root):
        print(f"set-up access point password (in config.py): {ap_password_of(project.root)}")
    if not args.wifi_ssid and "wifi" in get_template(args.template).framework:
        print("no Wi-Fi given: the board opens its set-up access point, or add wifi.json to the project")
    return 0


def _parse_target(text: str, arch: str | None) -> MpyTarget:
    major, _, minor = text.partition(".")
    try:
        version = int(major)
        sub = int(minor) if minor else (0 if version >= 6 else 2)
    except ValueError:
        from ide.errors import UsageError
        raise UsageError("--mpy", f"{text!r} is not a .mpy version such as 6.3 or 5") from None
    return MpyTarget(version, sub, arch)


def cmd_build(args: argparse.Namespace) -> int:
    project = load_project(args.dir)
    if args.mpy:
        target = _parse_target(args.mpy, args.arch)
    elif args.port:
        from ide.project.build import detect_target
        with Board.open(require_port(args), baud=args.baud, timeout=args.timeout,
                        virtual_config=virtual_config(args)) as board:
            target = detect_target(board)
    else:
        target = MpyTarget(HOST_TARGET.version, HOST_TARGET.sub_version, args.arch)
    result = build_project(project, target)
    print(f"built {len(result.files)} files into {result.out_dir} for .mpy {target.key} "
          f"({result.compiled} compiled, {result.reused} unchanged)")
    return 0


def _report(report) -> None:
    s = report.sync
    files = "file" if len(s.uploaded) == 1 else "files"
    print(f"uploaded {len(s.uploaded)} {files} ({s.bytes_sent} bytes), removed {len(s.removed)}, "
          f"{s.unchanged} unchanged", file=sys.stderr)


def cmd_deploy(args: argparse.Namespace) -> int:
    project = load_project(args.dir)
    with Board.open(require_port(args), baud=args.baud, timeout=args.timeout,
                    virtual_config=virtual_config(args)) as board:
        report = deploy(board, project, on_file=lambda path: print(f"  {path}", file=sys.stderr))
        board.to_friendly_repl()
    _report(report)
    return 0


def cmd_run_project(args: argparse.Namespace) -> int:
    project = load_project(args.dir)
    with Board.open(require_port(args), baud=args.baud, timeout=args.timeout,
                    virtual_config=virtual_config(args)) as board:
        report = run_project(board, project, _out, on_file=lambda path: print(f"  {path}", file=sys.stderr))
        _report(report)
        cancel = threading.Event()
        if args.seconds:
            threading.Timer(args.seconds, cancel.set).start()
        try:
            follow_output(board, _out, cancel)
        except KeyboardInterrupt:
            cancel.set()
            board.interrupt()  # Ctrl-C here stops the program on the board too
    time.sleep(0)
    return 0
