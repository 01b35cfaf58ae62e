# `socket` for the virtual board: the built-in module extended so that ESP32 code runs unchanged.
#
# - Addresses may be (host, port) tuples, as on the chip (the unix port wants getaddrinfo()'s sockaddr).
# - Privileged ports (< 1024: 80 for HTTP, 53 for the portal's DNS) need root on the host. For local addresses
#   ("0.0.0.0", "", "127.x", "localhost") they are remapped to a free high port: 80 -> 8080 when free, 53 -> 8053...
#   The mapping is written to the state file ports.json ({"80": 8080}) for the host and printed once:
#   "[vb] port 80 -> 8080". It is kept across resets while the port stays free.
from usocket import *  # noqa: F401,F403  (extends the built-in module)
import usocket as _s
import _vb

_map = {}


def _local(host):
    return host in ("", "0.0.0.0", "::", "localhost") or str(host).startswith("127.")


def _free(port):
    for t in (_s.SOCK_STREAM, _s.SOCK_DGRAM):
        s = _s.socket(_s.AF_INET, t)
        try:
            s.bind(_s.getaddrinfo("0.0.0.0", port)[0][-1])
        except OSError:
            return False
        finally:
            s.close()
    return True


def remap(port):
    """The host port standing in for a privileged `port` (allocating and reporting it on first use)."""
    port = int(port)
    if port == 0 or port >= 1024:
        return port
    p = _map.get(port)
    if p:
        return p
    known = _vb.read_config("ports.json", {}) or {}
    p = known.get(str(port))
    if not (p and _free(p)):
        p = 8000 + port
        while not _free(p):
            p += 1
            if p > 65000:
                raise OSError(98)  # EADDRINUSE
    _map[port] = p
    known[str(port)] = p
    _vb.write_state("ports.json", known)
    print("[vb] port %d -> %d" % (port, p))
    return p


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    if _local(host):
        port = remap(port)
    return _s.getaddrinfo(host, port, af, type, proto, flags)


def _addr(a):
    if isinstance(a, tuple):
        return getaddrinfo(a[0], a[1])[0][-1]
    return a


class socket(_s.socket):
    _vb_sock = True  # see select.py: polled by file descriptor

    def bind(self, addr):
        super().bind(_addr(addr))

    def connect(self, addr):
        super().connect(_addr(addr))

    def sendto(self, data, addr):
        return super().sendto(data, _addr(addr))
