# mqtt_sensor: settings. Wi-Fi passwords are not kept here: drop a wifi.json on the board
# ({"ssid": "...", "password": "..."}), it is stored obfuscated and deleted. The same for the MQTT password:
# secrets.json {"mqtt_password": "..."}.
device_name = "sensor1"
mqtt_server = "192.168.1.10"
mqtt_port = 1883
mqtt_user = None
topic = "home/sensor1"   # readings on <topic>/reading, "online"/"offline" on <topic>/status
interval_s = 30
sensor = "adc"           # "adc" (pin adc_pin) or "dht22" (pin dht_pin)
adc_pin = 34
dht_pin = 4
watchdog_s = 30
ota = True             # updates over the air through the broker (mipy-studio ota); key from the USB deploy
