# mqtt_relay: settings (Wi-Fi and MQTT passwords: see mqtt_sensor/config.py).
device_name = "relay1"
mqtt_server = "192.168.1.10"
mqtt_port = 1883
mqtt_user = None
topic = "home/relay1"   # commands on <topic>/relay/set ("on", "off", "toggle"); state on <topic>/relay/state
relay_pin = 26
relay_active_high = True
button_pin = 0          # BOOT button: toggles the relay locally
watchdog_s = 30
act_on_retained = False  # True: also obey a retained <topic>/relay/set (replayed by the broker at each connect)
ota = True             # updates over the air through the broker (mipy-studio ota); key from the USB deploy
