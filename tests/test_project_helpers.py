"""Shared set-up for the project tests (no tests here): virtual boards with Wi-Fi, projects from templates, and
headless Chromium driven over the DevTools protocol."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from itertools import count
from pathlib import Path

import pytest

from ide.board import virtual
from ide.board.board import Board
from ide.project.new_project import ProjectSettings, create_project
from ide.project.templates import get_template

NETS = {"networks": [{"ssid": "HomeWiFi", "password": "secret123", "rssi": -55, "authmode": 3}],
        "connect_delay_ms": 200}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture
def vb_board(tmp_path):
    """Factory: a Board on a fresh virtual board with the test Wi-Fi network; closed at the end."""
    opened: list[Board] = []
    numbers = count()

    def make(**config) -> Board:
        root = tmp_path / f"board{next(numbers)}"
        root.mkdir()
        config.setdefault("root_dir", root)
        config.setdefault("baud", 0)
        config.setdefault("network", NETS)
        board = Board.open("virtual", virtual_config=virtual.VirtualBoardConfig(**config), timeout=10)
        opened.append(board)
        return board

    yield make
    for board in opened:
        board.close()


def new_project(tmp_path: Path, template: str, **settings):
    settings.setdefault("wifi_ssid", "HomeWiFi")
    settings.setdefault("wifi_password", "secret123")
    return create_project(get_template(template), tmp_path / template, ProjectSettings(**settings))


class Output:
    """Collects a running program's output (bytes from the board) and waits for text in it."""

    def __init__(self):
        self.data = bytearray()

    def __call__(self, data: bytes) -> None:
        self.data += data

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def follow_until(board: Board, output: Output, text: str, timeout: float = 15, start: int = 0) -> int:
    """Read the board's output into ``output`` until ``text`` shows up after character ``start``; returns the
    length of the output then (a ``start`` for the next wait)."""
    end = time.monotonic() + timeout
    while text not in output.text[start:]:
        if time.monotonic() > end:
            raise AssertionError(f"{text!r} not seen; output:\n{output.text[-3000:]}")
        data = board.terminal_read(0.05)
        if data:
            output(data)
    return len(output.text)


def board_port(board: Board, port: int) -> int:
    """The host port standing in for the board's privileged ``port`` (the socket shim's ports.json)."""
    path = board.virtual_board.state_dir / "ports.json"
    return wait_for(lambda: path.exists() and json.loads(path.read_text() or "{}").get(str(port)), 10,
                    f"port {port} mapping")


def pin(board: Board, number: int):
    return board.virtual_board.pin_states().get(str(number), {}).get("value")


def wait_for(predicate, timeout: float = 10, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout} s")


class Chromium:
    """Headless Chromium, driven over the DevTools protocol (one page)."""

    def __init__(self):
        from websockets.sync.client import connect
        self.profile = tempfile.TemporaryDirectory(prefix="mipy-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--remote-debugging-port=0", f"--user-data-dir={self.profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        active = Path(self.profile.name) / "DevToolsActivePort"
        wait_for(lambda: active.exists() and active.read_text().count("\n") >= 1, 20, "Chromium's DevTools port")
        port = int(active.read_text().split()[0])
        pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5).read())
        page = next(p for p in pages if p.get("type") == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self._ids = count(1)

    def call(self, method: str, **params):
        message_id = next(self._ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=20))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        wait_for(lambda: self.evaluate("document.readyState") == "complete", 15, f"{url} to load")

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.profile.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
