# mipy.hw: the usual parts on a pin.
#   Led(pin, inverted=False): on() off() toggle() value([v]); await blink(times=1, ms=100)
#   Relay(pin, active_high=True, state=False): on() off() toggle() state (bool)
#   Button(pin, on_press=None, on_release=None, pull_up=True, debounce_ms=30): polled by an asyncio task
#       (no IRQ needed, so nothing runs in interrupt context); pressed (bool). Callbacks may be async.
import asyncio
from machine import Pin


class Led:
    def __init__(self, pin, inverted=False):
        self._inv = 1 if inverted else 0
        self.pin = Pin(pin, Pin.OUT, value=self._inv)

    def value(self, v=None):
        if v is None:
            return self.pin.value() ^ self._inv
        self.pin.value((1 if v else 0) ^ self._inv)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(not self.value())

    async def blink(self, times=1, ms=100):
        for _ in range(times):
            self.toggle()
            await asyncio.sleep_ms(ms)
            self.toggle()
            await asyncio.sleep_ms(ms)


class Relay(Led):
    def __init__(self, pin, active_high=True, state=False):
        super().__init__(pin, not active_high)
        self.value(state)

    @property
    def state(self):
        return bool(self.value())


class Button:
    def __init__(self, pin, on_press=None, on_release=None, pull_up=True, debounce_ms=30):
        self.pin = Pin(pin, Pin.IN, Pin.PULL_UP if pull_up else Pin.PULL_DOWN)
        self._active = 0 if pull_up else 1
        self.on_press, self.on_release = on_press, on_release
        self._ms = debounce_ms
        self.pressed = False
        self.task = asyncio.create_task(self._poll())

    async def _poll(self):
        from mipy.sched import _call
        stable = 0
        while True:
            await asyncio.sleep_ms(10)
            down = self.pin.value() == self._active
            if down == self.pressed:
                stable = 0
                continue
            stable += 10
            if stable >= self._ms:  # held in the new state long enough: not a bounce
                stable = 0
                self.pressed = down
                fn = self.on_press if down else self.on_release
                if fn:
                    await _call(fn)
