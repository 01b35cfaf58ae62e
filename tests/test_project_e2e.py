"""Templates as projects, end to end on the virtual board (the real MicroPython interpreter): created, built with
the real mpy-cross, synced, soft-reset by Run project, then driven by real peers: an amqtt broker and a paho-mqtt
client, headless Chromium, an HTTP client posting the portal's form."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
import urllib.request

import pytest

from conftest import needs_virtual_board
from device_helpers import Broker, Subscriber
from ide.project.run_project import run_project
from test_project_helpers import (CHROMIUM, Chromium, Output, board_port, follow_until, new_project, pin,  # noqa: F401
                                  vb_board, wait_for)

pytestmark = [needs_virtual_board, pytest.mark.slow]


@pytest.fixture
def broker(tmp_path):
    br = Broker(tmp_path).start()
    yield br
    br.stop()


def test_mqtt_sensor_publishes_readings_to_a_real_broker(tmp_path, vb_board, broker):
    project = new_project(tmp_path, "mqtt_sensor", name="sensor7", mqtt_server="127.0.0.1", mqtt_port=broker.port,
                          extra={"interval_s": 1})
    sub = Subscriber(broker.port, "home/sensor7/#")
    board = vb_board()
    out = Output()
    try:
        report = run_project(board, project, out)
        assert "/lib/mipy/mqtt.mpy" in report.sync.uploaded and "/main.py" in report.sync.uploaded
        sub.wait(lambda m: m[0] == "home/sensor7/status" and m[1] == b"online", 15)
        readings = []
        for _ in range(2):
            _, payload, _ = sub.wait(lambda m: m[0] == "home/sensor7/reading" and m[1] not in readings, 10)
            readings.append(payload)
        value = json.loads(readings[0])
        assert 0 <= value["value"] <= 4095 and value["free"] > 0
        follow_until(board, out, "mqtt: connected")
        assert "secret123" not in out.text  # the Wi-Fi password never reaches the serial line
    finally:
        sub.close()


def test_mqtt_relay_switches_its_pin_and_survives_a_broker_restart(tmp_path, vb_board, broker):
    project = new_project(tmp_path, "mqtt_relay", name="relay3", mqtt_server="127.0.0.1", mqtt_port=broker.port)
    sub = Subscriber(broker.port, "home/relay3/#")
    board = vb_board()
    out = Output()
    try:
        run_project(board, project, out)
        mark = follow_until(board, out, "mqtt: connected")
        sub.wait(lambda m: m[0] == "home/relay3/relay/state" and m[1] == b"off", 10)
        time.sleep(0.3)  # the subscription reaches the broker
        sub.publish("home/relay3/relay/set", "on")
        wait_for(lambda: pin(board, 26) == 1, 10, "relay pin 26 on")
        sub.wait(lambda m: m[0] == "home/relay3/relay/state" and m[1] == b"on", 10)

        broker.stop()
        mark = follow_until(board, out, "mqtt: ", start=mark)  # the client notices the broker is gone
        broker.start()
        follow_until(board, out, "mqtt: connected", timeout=25, start=mark)
        time.sleep(0.3)
        sub2 = Subscriber(broker.port, "home/relay3/#")
        try:
            sub2.wait(lambda m: m[0] == "home/relay3/status" and m[1] == b"online", 10)
            sub2.publish("home/relay3/relay/set", "off")  # re-subscribed after the restart
            wait_for(lambda: pin(board, 26) == 0, 10, "relay pin 26 off")
        finally:
            sub2.close()
    finally:
        sub.close()


def _status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)  # sent as written: no client-side normalising of "..", "%2e"
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install -y chromium)")
def test_web_dashboard_in_headless_chromium(tmp_path, vb_board):
    project = new_project(tmp_path, "web_dashboard", name="dash")
    board = vb_board()
    out = Output()
    run_project(board, project, out)
    follow_until(board, out, "http: serving on port 80")
    port = board_port(board, 80)
    browser = Chromium()
    try:
        browser.open(f"http://127.0.0.1:{port}/")
        assert browser.evaluate("document.title") == "Dashboard"
        wait_for(lambda: browser.evaluate("document.getElementById('ip').textContent") == "127.0.0.1", 10,
                 "the page's first poll of /api")
        assert browser.evaluate("document.getElementById('led').textContent") == "0" and pin(board, 2) in (0, None)
        browser.evaluate("document.getElementById('toggle').click()")
        wait_for(lambda: pin(board, 2) == 1, 10, "LED pin 2 on after the click")
        wait_for(lambda: browser.evaluate("document.getElementById('led').textContent") == "1", 10,
                 "the page showing the LED on")
        # What the browser can ask for: the project's own files are not served, only www/.
        for path in ("/config.py", "/main.py", "/lib/mipy/app.mpy", "/.mipy_manifest.json", "/secrets.dat"):
            assert browser.evaluate(f"fetch({path!r}).then(r => r.status)") == 404, path
    finally:
        browser.close()
    # What a hand-made request can ask for (a browser normalises these away before sending).
    for path in ("/../main.py", "/%2e%2e/config.py", "/..%2fmain.py", "/www/../config.py", "//config.py"):
        assert _status(port, path) == 404, path
    assert _status(port, "/index.html") == 200


def test_wifi_portal_stores_the_submitted_network_and_connects(tmp_path, vb_board):
    project = new_project(tmp_path, "wifi_portal", name="setup1", wifi_ssid="", wifi_password="")
    assert not (project.root / "wifi.json").exists()
    board = vb_board()
    out = Output()
    run_project(board, project, out)
    follow_until(board, out, "http: serving on port 80", timeout=25)
    port = board_port(board, 80)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        page = response.read()
    assert b"HomeWiFi" in page and b"<form" in page  # the scanned network is offered
    form = urllib.parse.urlencode({"ssid": "HomeWiFi", "password": "secret123"}).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/save", data=form, timeout=5) as response:
        assert response.status == 200 and b"Connecting to HomeWiFi" in response.read()
    follow_until(board, out, "online as 127.0.0.1", timeout=20)
    stored = board.virtual_board.root_dir / "secrets.dat"
    assert stored.exists() and "secret123" not in stored.read_text() and "secret123" not in out.text
    # Stored for good: after another Run (nothing changed, nothing uploaded) it connects without the portal.
    report = run_project(board, project, Output())
    assert report.sync.uploaded == []
    out2 = Output()
    follow_until(board, out2, "connected to HomeWiFi", timeout=20)
    assert "portal" not in out2.text
