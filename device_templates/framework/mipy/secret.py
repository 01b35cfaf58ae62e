# mipy.secret: credentials at rest, OBFUSCATED (not encrypted).
#
# Values are AES-CBC encrypted with a random IV per value, under a key derived from this chip's
# machine.unique_id() and a random salt created on first use (/.salt). This keeps passwords from being
# readable in a copied file or a backup of another board, and no key is shared between devices. It is
# obfuscation, not protection: anyone with the chip can read unique_id and the salt and recover the values.
#   put(name, value) / get(name, default=None) / remove(name) / names()
#   provision(path="/secrets.json"): merge a dropped {"name": "value"} file into the store and delete it
# Store: /secrets.dat, JSON {"name": "base64(iv + ciphertext)"}; values are str (UTF-8, any characters).
import json
import os

STORE = "/secrets.dat"
SALT = "/.salt"
_key = None


def _k():
    global _key
    if _key is None:
        import hashlib
        import machine
        try:
            with open(SALT, "rb") as f:
                salt = f.read()
        except OSError:
            salt = os.urandom(16)
            with open(SALT, "wb") as f:
                f.write(salt)
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
    try:
        with open(STORE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _save(d):
    with open(STORE, "w") as f:
        json.dump(d, f)


def put(name, value):
    d = _load()
    d[name] = hide(value)
    _save(d)


def get(name, default=None):
    v = _load().get(name)
    return default if v is None else reveal(v)


def remove(name):
    d = _load()
    if d.pop(name, None) is not None:
        _save(d)


def names():
    return list(_load())


def provision(path="/secrets.json"):
    """Consume a dropped plain-text file of secrets: stored obfuscated, then the file is deleted."""
    try:
        with open(path) as f:
            new = json.load(f)
    except OSError:
        return 0
    except ValueError:
        new = {}
    d = _load()
    for k, v in new.items():
        d[k] = hide(str(v))
    _save(d)
    os.remove(path)
    return len(new)
