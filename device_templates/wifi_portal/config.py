# wifi_portal: settings. With no stored network in range the board opens the access point
# "<device_name>-setup" and a set-up page (any address opens it); the network chosen there is stored obfuscated.
device_name = "mipy"
ap_password = None      # set per project when it is created; None: derived from the chip (in the log at boot);
                        # "": an open access point (anyone in range could then choose the board's network)
http_port = 80
dns_port = 53
wifi_timeout = 15
led_pin = 2
watchdog_s = 0          # the portal waits for a person: no watchdog here
