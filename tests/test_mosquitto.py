"""The MQTT templates end to end against Mosquitto, the broker users actually run (Debian's `mosquitto`, started
on a free local port with a config in tmp_path and stopped by its pid; `make test` installs it where it may).
tests/test_device_framework.py runs the same templates against amqtt."""

from __future__ import annotations

import json
import time

import pytest

from device_helpers import MOSQUITTO, Board, Mosquitto, Subscriber

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="needs mosquitto (apt-get install -y mosquitto)")

NETS = {"networks": [{"ssid": "HomeWiFi", "password": "secret123", "rssi": -55, "authmode": 3}],
        "connect_delay_ms": 100}


@pytest.fixture
def mosquitto(tmp_path):
    broker = Mosquitto(tmp_path).start()
    yield broker
    broker.stop()


@pytest.fixture
def board(tmp_path):
    b = Board(tmp_path)
    b.config("network.json", NETS)
    (b.root / "wifi.json").write_text(json.dumps({"ssid": "HomeWiFi", "password": "secret123"}))
    yield b
    b.stop()


def test_sensor_readings_and_last_will_through_mosquitto(board, mosquitto):
    sub = Subscriber(mosquitto.port, "home/sensor1/#")
    try:
        board.install_template("mqtt_sensor")
        board.set_config(mqtt_server="127.0.0.1", mqtt_port=mosquitto.port, interval_s=1)
        board.start(heap="256K")
        sub.wait(lambda m: m[0] == "home/sensor1/status" and m[1] == b"online" and not m[2])
        readings = [json.loads(sub.wait(lambda m: m[0] == "home/sensor1/reading")[1])]
        sub.messages.clear()
        readings.append(json.loads(sub.wait(lambda m: m[0] == "home/sensor1/reading")[1]))
        assert all(0 <= r["value"] <= 4095 and r["free"] > 0 for r in readings)
        board.stop()  # a power cut: Mosquitto publishes the last will once the keepalive runs out or the socket drops
        sub.wait(lambda m: m[0] == "home/sensor1/status" and m[1] == b"offline", 15)
    finally:
        sub.close()


def test_relay_through_a_mosquitto_restart_and_retained_commands(board, mosquitto):
    sub = Subscriber(mosquitto.port, "home/relay1/#")
    try:
        sub.publish("home/relay1/relay/set", "on", retain=True)  # an old command, retained before the board came
        board.install_template("mqtt_relay")
        board.set_config(mqtt_server="127.0.0.1", mqtt_port=mosquitto.port)
        board.start(heap="256K")
        sub.wait(lambda m: m[0] == "home/relay1/relay/state" and m[1] == b"off")
        board.wait_for("retained command ignored")
        assert (board.read_state("pins.json") or {}).get("26", {}).get("value", 0) == 0
        sub.publish("home/relay1/relay/set", "on")
        board.wait_state("pins.json", lambda p: p.get("26", {}).get("value") == 1)
        sub.wait(lambda m: m[0] == "home/relay1/relay/state" and m[1] == b"on")

        mosquitto.stop()
        n = len(board.lines)
        board.wait_for("mqtt: ", start=n)  # the client notices the broker is gone
        mosquitto.start()  # same port, no persistence: the subscription must be sent again
        board.wait_for("mqtt: connected", timeout=20, start=n)
        time.sleep(0.3)
        sub2 = Subscriber(mosquitto.port, "home/relay1/#")
        try:
            sub2.wait(lambda m: m[0] == "home/relay1/status" and m[1] == b"online")
            sub2.publish("home/relay1/relay/set", "off")
            board.wait_state("pins.json", lambda p: p["26"]["value"] == 0)
            sub2.wait(lambda m: m[0] == "home/relay1/relay/state" and m[1] == b"off")
        finally:
            sub2.close()
        assert board.output.count(" starting (reset cause") == 1
    finally:
        sub.close()
