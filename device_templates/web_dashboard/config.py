# web_dashboard: settings (Wi-Fi: drop a wifi.json, see mqtt_sensor/config.py).
device_name = "dashboard"
led_pin = 2
led_inverted = False
http_port = 80
watchdog_s = 30
