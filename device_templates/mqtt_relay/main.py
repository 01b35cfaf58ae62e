# mqtt_relay: a relay switched over MQTT and by a local button; its state is published retained.
import config
from mipy import app, hw, log, secret

relay = hw.Relay(config.relay_pin, config.relay_active_high)
SET, STATE = config.topic + "/relay/set", config.topic + "/relay/state"
client = None


def show():
    client.publish(STATE, "on" if relay.state else "off", retain=True)


def on_message(topic, msg, retained):
    # A retained command is an old one the broker replays at every reconnect: acting on it would switch the
    # relay back after every network hiccup. Ignored unless config.act_on_retained says otherwise.
    if retained and not getattr(config, "act_on_retained", False):
        log.info("relay: retained command ignored")
        return
    if topic == SET:
        try:
            cmd = msg.decode().strip().lower()
        except ValueError:
            cmd = repr(msg[:20])
        if cmd in ("on", "1", "true"):
            relay.on()
        elif cmd in ("off", "0", "false"):
            relay.off()
        elif cmd == "toggle":
            relay.toggle()
        else:
            log.warn("relay: unknown command %s", cmd)
            return
        log.info("relay: %s", "on" if relay.state else "off")
        show()


def pressed():
    relay.toggle()
    show()


async def main():
    global client
    from mipy import mqtt  # after Wi-Fi: while the set-up portal runs, this memory is the portal's
    client = mqtt.MQTT(config.device_name, config.mqtt_server, config.mqtt_port, config.mqtt_user,
                       secret.get("mqtt_password"), status_topic=config.topic + "/status",
                       on_message=on_message, on_connect=show)
    client.subscribe(SET, 1)
    hw.Button(config.button_pin, on_press=pressed)
    await client.run()


app.run(main, config)
