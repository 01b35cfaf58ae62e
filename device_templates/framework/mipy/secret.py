# mipy.secret: credentials at rest, OBFUSCATED (not encrypted).
#
# Values are AES-CBC encrypted with a random IV per value, under a key derived from this chip's
# machine.unique_id() and a random salt created on first use (/.salt). This keeps passwords from being
# readable in a copied file or a backup of another board, and no key is shared between devices. It is
# obfuscation, not protection: anyone with the chip can read unique_id and the salt and recover the values.
#   put(name, value) / get(name, default=None) / remove(name) / names()
#   token(name): a random per-device token kept in the store
#   provision(path="/secrets.json"): merge a dropped {"name": "value"} file into the store and delete it
# Writes go to a temporary file renamed over the store, so a power cut never loses it; a corrupt store is
# logged, set aside as /secrets.dat.bad and read as empty (the board then asks for Wi-Fi in its portal).
# Store: /secrets.dat, JSON {"name": "base64(iv + ciphertext)"}; values are str (UTF-8, any characters).
import json
import os

STORE = "/secrets.dat"
SALT = "/.salt"
_key = None


def _write(path, data):
    """Replace path with data so that a power cut leaves the old or the new file, never half of one: write a
    temporary file, then rename it over (atomic on LittleFS; FAT cannot rename over, so there the old file goes
    first and _load falls back to the temporary one)."""
    with open(path + ".tmp", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    try:
        os.rename(path + ".tmp", path)
    except OSError:
        os.remove(path)
        os.rename(path + ".tmp", path)


def _k():
    global _key
    if _key is None:
        import hashlib
        import machine
        salt = b""
        for p in (SALT, SALT + ".tmp"):
            try:
                with open(p, "rb") as f:
                    salt = f.read()
                break
            except OSError:
                pass
        if len(salt) != 16:  # missing (first use) or cut short by a power cut while being written
            salt = os.urandom(16)
            _write(SALT, salt)
        _key = hashlib.sha256(b"mipy-secret" + machine.unique_id() + salt).digest()[:16]
    return _key


def hide(value):
    from binascii import b2a_base64
    from cryptolib import aes
    data = value.encode()
    n = 16 - len(data) % 16
    data += bytes((n,)) * n  # PKCS#7 padding
    iv = os.urandom(16)
    return b2a_base64(iv + aes(_k(), 2, iv).encrypt(data)).strip().decode()


def reveal(text):
    from binascii import a2b_base64
    from cryptolib import aes
    raw = a2b_base64(text)
    data = aes(_k(), 2, raw[:16]).decrypt(raw[16:])
    return data[: -data[-1]].decode()


def _load():
    for p in (STORE, STORE + ".tmp"):  # the temporary one only when a power cut came between remove and rename
        try:
            with open(p) as f:
                d = json.load(f)
        except OSError:
            continue
        except ValueError:
            d = None
        if isinstance(d, dict):
            return d
        # Logged and set aside (not deleted: it may be recoverable by hand); the board goes on without the
        # secrets, so Wi-Fi ends in the set-up portal rather than a boot loop.
        from mipy import log
        log.error("secret: %s is corrupt; moved to %s.bad, secrets lost", p, STORE)
        try:
            os.rename(p, STORE + ".bad")
        except OSError:
            pass
        return {}
    return {}


def _save(d):
    _write(STORE, json.dumps(d))


def put(name, value):
    d = _load()
    d[name] = hide(value)
    _save(d)


def get(name, default=None):
    v = _load().get(name)
    if v is None:
        return default
    try:
        return reveal(v)
    except Exception:  # not base64, bad padding, not UTF-8: another chip's store, or damaged
        from mipy import log
        log.error("secret: %s cannot be read", name)
        return default


def remove(name):
    d = _load()
    if d.pop(name, None) is not None:
        _save(d)


def names():
    return list(_load())


def token(name):
    """A random hex token kept in the store (created on first use): per device, stable across reboots."""
    t = get(name)
    if not t:
        from binascii import hexlify
        t = hexlify(os.urandom(12)).decode()
        put(name, t)
    return t


def provision(path="/secrets.json"):
    """Consume a dropped plain-text file of secrets: stored obfuscated, then the file is deleted."""
    try:
        with open(path) as f:
            new = json.load(f)
    except OSError:
        return 0
    except ValueError:
        new = None
    if not isinstance(new, dict):
        from mipy import log
        log.error("secret: %s is not a JSON object ({\"name\": \"value\"}); deleted unread", path)
        new = {}
    d = _load()
    for k, v in new.items():
        d[k] = hide(str(v))
    _save(d)
    os.remove(path)
    return len(new)
