"""The virtual board's hardware shims (ide/board/virtual_shims), run by the real MicroPython unix port.

Each test runs ESP32-style code on a Board (tests/device_helpers.py: the board's start-up in miniature) and
checks what the host sees: the state files and the control requests.
"""

import socket
import time
import urllib.request

import pytest

from device_helpers import Board

NETS = {"networks": [{"ssid": "HomeWiFi", "password": "secret123", "rssi": -55, "authmode": 3},
                     {"ssid": "Cafe", "rssi": -80, "authmode": 0}], "connect_delay_ms": 200}


@pytest.fixture
def board(tmp_path):
    b = Board(tmp_path)
    yield b
    b.stop()


def test_pin_toggling_is_recorded_and_printed(board):
    board.config("virtual.json", {"print_pins": True})
    out = board.run("""
from machine import Pin
led = Pin(2, Pin.OUT)
led.on(); print("v", led.value()); led.off(); print("v", led.value()); led.toggle()
b = Pin(0, Pin.IN, Pin.PULL_UP); print("in", b.value())
""")
    assert "v 1" in out and "v 0" in out and "in 1" in out
    assert "[pin 2] value=1" in out
    pins = board.read_state("pins.json")
    assert pins["2"]["mode"] == "OUT" and pins["2"]["value"] == 1
    assert pins["0"]["mode"] == "IN" and pins["0"]["pull"] == "UP"


def test_pins_not_printed_by_default(board):
    out = board.run("from machine import Pin\nPin(2, Pin.OUT).on()\nprint('done')")
    assert "[pin" not in out and "done" in out


def test_adc_pwm_buses(board):
    board.config("virtual.json", {"adc": {"34": 1000}, "i2c": [60, 118]})
    out = board.run("""
from machine import ADC, PWM, Pin, I2C, SoftI2C, SPI, UART
a = ADC(Pin(34)); print("adc", a.read(), a.read_u16(), a.read_uv())
b = ADC(Pin(35)).read(); print("plausible", 0 <= b <= 4095)
p = PWM(Pin(5), freq=1000, duty=512); print("pwm", p.freq(), p.duty())
p.duty_u16(16384); print("u16", p.duty_u16())
i = I2C(0, scl=Pin(22), sda=Pin(21)); print("scan", i.scan(), i.readfrom(60, 3), SoftI2C(scl=Pin(1), sda=Pin(2)).scan())
try:
    i.writeto(0x10, b"x")
except OSError as e:
    print("nodev", e.errno)
s = SPI(1); print("spi", s.read(2))
u = UART(1, 9600); print("uart", u.write(b"abc"), u.any(), u.read())
p.deinit()
""")
    assert "adc 1000 16000 " in out
    assert "plausible True" in out
    assert "pwm 1000 512" in out and "u16 16384" in out
    assert "scan [60, 118] b'\\x00\\x00\\x00' [60, 118]" in out
    assert "nodev 19" in out and "spi b'\\x00\\x00'" in out and "uart 3 0 None" in out
    assert board.read_state("pins.json")["5"]["mode"] == "-"


def test_timer_callbacks_fire_while_sleeping_busy_and_in_asyncio(board):
    out = board.run("""
import time, asyncio
from machine import Timer
n = []
t = Timer(0, mode=Timer.PERIODIC, period=50, callback=lambda t: n.append(1))
time.sleep(0.5); print("sleep", len(n))
k = len(n); e = time.ticks_add(time.ticks_ms(), 300)
while time.ticks_diff(e, time.ticks_ms()) > 0:
    pass
print("busy", len(n) - k)
k = len(n)
async def nap():
    await asyncio.sleep(0.5)
asyncio.run(nap()); print("asyncio", len(n) - k)
t.deinit(); k = len(n); time.sleep(0.2); print("stopped", len(n) - k)
once = []
Timer(1, mode=Timer.ONE_SHOT, period=30, callback=lambda t: once.append(1)); time.sleep(0.3); print("once", len(once))
""")
    got = dict(line.split() for line in out.splitlines() if line.split()[0] in ("sleep", "busy", "asyncio", "stopped", "once"))
    assert 7 <= int(got["sleep"]) <= 11
    assert 4 <= int(got["busy"]) <= 7
    assert 7 <= int(got["asyncio"]) <= 11
    assert got["stopped"] == "0" and got["once"] == "1"


def test_pin_irq_follows_the_host_inputs(board):
    board.start("""
from machine import Pin
import time
hits = []
b = Pin(0, Pin.IN, Pin.PULL_UP)
b.irq(lambda p: hits.append(p.value()), Pin.IRQ_FALLING)
print("ready")
while not hits:
    time.sleep_ms(10)
print("irq", hits)
""")
    board.wait_for("ready")
    board.config("inputs.json", {"0": 0})
    board.wait_for("irq [0]")


def test_watchdog_resets_when_not_fed(board):
    board.start("""
from machine import WDT
import time
w = WDT(timeout=300)
for i in range(5):
    time.sleep_ms(100); w.feed()
print("fed ok")
while True:
    pass  # stuck: the watchdog must bite
""")
    board.wait_for("fed ok")
    assert board.wait_control(5) == "reset WDT"
    assert "watchdog" in board.output


def test_reset_and_deepsleep_are_host_requests(board):
    board.start("import machine\nmachine.deepsleep(5000)")
    assert board.wait_control() == "deepsleep 5000"
    board.stop()
    board.control.unlink()
    board.start("import machine\nmachine.reset()")
    assert board.wait_control().startswith("reset ")


def test_reset_cause_and_unique_id(board):
    board.config("boot.json", {"reset_cause": "WDT"})
    code = "import machine\nprint(machine.reset_cause() == machine.WDT_RESET, machine.unique_id().hex(), machine.freq())"
    out1 = board.run(code).split()
    out2 = board.run(code).split()
    assert out1[0] == "True" and out1[2] == "160000000"
    assert len(bytes.fromhex(out1[1])) == 6 and out1[1] == out2[1]  # stable per board
    board.config("boot.json", {"reset_cause": "DEEPSLEEP"})
    assert "True" in board.run("import machine\nprint(machine.reset_cause() == machine.DEEPSLEEP_RESET)")


def test_network_connects_only_with_the_right_password(board):
    board.config("network.json", NETS)
    out = board.run("""
import network, time
w = network.WLAN(network.STA_IF)
try:
    w.scan()
except OSError:
    print("inactive")
w.active(True)
print("scan", [(s.decode(), r) for s, b, c, r, a, h in w.scan()])
def attempt(ssid, pw):
    w.connect(ssid, pw)
    st = [w.status()]
    while w.status() == network.STAT_CONNECTING:
        time.sleep_ms(20)
    return st[0] == network.STAT_CONNECTING, w.status(), w.isconnected()
print("bad", attempt("HomeWiFi", "nope") == (True, network.STAT_WRONG_PASSWORD, False))
print("none", attempt("Other", "x")[1] == network.STAT_NO_AP_FOUND)
print("open", attempt("Cafe", "")[1:] == (network.STAT_GOT_IP, True))
print("good", attempt("HomeWiFi", "secret123") == (True, network.STAT_GOT_IP, True))
print("cfg", w.ifconfig()[0], w.config("essid"), len(w.config("mac")), w.status("rssi"))
ap = network.WLAN(network.AP_IF); ap.active(True); ap.config(essid="dev-setup", password="abcdefgh")
print("ap", ap.config("essid"), ap.ifconfig()[0], ap.isconnected())
w.disconnect(); print("down", w.isconnected())
""")
    assert "inactive" in out
    assert "scan [('HomeWiFi', -55), ('Cafe', -80)]" in out
    for k in ("bad", "none", "open", "good"):
        assert f"{k} True" in out, out
    assert "cfg 127.0.0.1 HomeWiFi 6 -55" in out
    assert "ap dev-setup 127.0.4.1 True" in out and "down False" in out
    st = board.read_state("network_state.json")
    assert st["ap"]["ssid"] == "dev-setup" and "secret123" not in str(st)


def test_time_epoch_rtc_ntptime_esp_esp32(board):
    code = """
import time, machine, ntptime, esp, esp32
print("now", time.time(), time.localtime()[0])
machine.RTC().datetime((2030, 1, 2, 0, 3, 4, 5, 0)); print("rtc", time.localtime()[:6])
ntptime.settime(); print("ntp", time.localtime()[0], ntptime.time() - time.time())
print("esp", esp.flash_size(), hex(esp.flash_id()))
esp.flash_write(4096, b"abc"); print("flash", bytes(esp.flash_read(4096, 4)))
print("temp", esp32.raw_temperature(), esp32.mcu_temperature())
n = esp32.NVS("app")
try:
    print("boots", n.get_i32("boots"))
except OSError:
    print("boots none")
n.set_i32("boots", 7); n.commit()
print("part", [p.info()[4] for p in esp32.Partition.find(esp32.Partition.TYPE_APP)])
"""
    out = board.run(code)
    host_2000 = int(time.time()) - 946684800
    now = [line for line in out.splitlines() if line.startswith("now")][0].split()
    assert abs(int(now[1]) - host_2000) < 5 and int(now[2]) == time.gmtime().tm_year
    assert "rtc (2030, 1, 2, 3, 4, 5)" in out
    assert f"ntp {time.gmtime().tm_year} 0" in out
    assert "esp 4194304 0x1640ef" in out and "flash b'abc\\xff'" in out
    assert "temp 107 42" in out and "boots none" in out and "part ['factory']" in out
    assert "boots 7" in board.run(code)  # NVS survives a reset


def test_neopixel_and_dht(board):
    board.config("virtual.json", {"dht": {"temperature": 23.4, "humidity": 51.2}})
    out = board.run("""
import neopixel, dht, machine
np = neopixel.NeoPixel(machine.Pin(13), 3)
np[0] = (255, 0, 0); np[2] = (0, 0, 9); np.write(); print("np", np[0], len(np))
d = dht.DHT22(machine.Pin(4)); d.measure(); print("dht22", d.temperature(), d.humidity())
d = dht.DHT11(machine.Pin(4)); d.measure(); print("dht11", d.temperature(), d.humidity())
""")
    assert "np (255, 0, 0) 3" in out and "dht22 23.4 51.2" in out and "dht11 23 51" in out
    assert board.read_state("neopixel.json") == {"13": [[255, 0, 0], [0, 0, 0], [0, 0, 9]]}


def test_privileged_port_is_remapped_and_reported(board):
    board.start("""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))   # ESP32 style: a tuple, port 80
s.listen(1)
print("listening")
c, a = s.accept()
c.recv(100)
c.send(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nhi")
c.close()
""")
    board.wait_for("listening")
    port = board.read_state("ports.json")["80"]
    assert port >= 1024 and f"[vb] port 80 -> {port}" in board.output
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() == b"hi"


def test_remap_moves_on_when_the_port_is_taken(board):
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            busy.bind(("0.0.0.0", 8053))
        except OSError:
            pytest.skip("8053 already taken on this host")
        out = board.run("import socket\nprint(socket.getaddrinfo('0.0.0.0', 53)[0][-1] is not None)")
        assert "True" in out and board.read_state("ports.json")["53"] > 8053
