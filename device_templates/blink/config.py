# blink: settings
device_name = "blink"
led_pin = 2          # the on-board LED of most ESP32 DevKits (ESP8266 NodeMCU: 2, inverted)
led_inverted = False
interval_ms = 500
wifi = False         # this template needs no network
watchdog_s = 10
