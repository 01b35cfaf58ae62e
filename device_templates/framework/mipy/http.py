# mipy.http: a tiny asyncio web server for dashboards.
#   srv = Server(port=80, www="/www", max_body=1024)
#   @srv.route("/api", "GET")            handler(req) -> str | bytes | dict/list (JSON) | None (204)
#   def handler(req): ...                          | (status, body) | (status, body, {headers})
#   await srv.start(); srv.close()
# req.method, req.path, req.query (dict), req.body (bytes), req.form() (dict of a url-encoded body), req.json().
# Static files are served from `www` only: the decoded path may not contain "..", "\", "//" or hidden (".x")
# segments; anything else is 404. Requests with headers over MAX_HEAD bytes get 431, bodies over max_body 413.
# Handlers may be async. One request per connection (Connection: close).
import asyncio
import json
from mipy import log

MAX_HEAD = 1024
_TYPES = {"html": "text/html", "css": "text/css", "js": "application/javascript", "json": "application/json",
          "txt": "text/plain", "png": "image/png", "ico": "image/x-icon", "svg": "image/svg+xml"}
_REASON = {200: "OK", 204: "No Content", 302: "Found", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 413: "Payload Too Large", 431: "Headers Too Large", 500: "Error"}


def unquote(s):
    if "%" not in s and "+" not in s:
        return s
    b = s.replace("+", " ").encode()
    out = bytearray()
    i = 0
    while i < len(b):
        if b[i] == 37 and i + 3 <= len(b):  # "%xx"
            try:
                out.append(int(b[i + 1:i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(b[i])
        i += 1
    return out.decode()


def parse_qs(s):
    d = {}
    for part in s.split("&"):
        if part:
            k, _, v = part.partition("=")
            d[unquote(k)] = unquote(v)
    return d


class Request:
    def __init__(self, method, path, query, body):
        self.method, self.path, self.query, self.body = method, path, query, body

    def form(self):
        return parse_qs(self.body.decode())

    def json(self):
        return json.loads(self.body)


def safe_path(path):
    """The file under www for a decoded URL path, or None if it must not be served."""
    if "\\" in path or "//" in path or "\x00" in path or not path.startswith("/"):
        return None
    for seg in path.split("/"):
        if seg.startswith("."):  # "..", "." and hidden files
            return None
    return path + "index.html" if path.endswith("/") else path


class Server:
    def __init__(self, port=80, www="/www", max_body=1024):
        self.port, self.www, self.max_body = port, www, max_body
        self.routes = {}
        self.fallback = None  # handler for unknown paths (the portal redirects them); default 404
        self._srv = None

    def route(self, path, method="GET"):
        def deco(fn):
            self.routes[(method, path)] = fn
            return fn
        return deco

    async def start(self, host="0.0.0.0"):
        self._srv = await asyncio.start_server(self._handle, host, self.port)
        log.info("http: serving on port %d", self.port)

    def close(self):
        if self._srv:
            self._srv.close()
            self._srv = None

    async def _handle(self, r, w):
        try:
            await self._serve(r, w)
        except Exception as e:
            log.debug("http: %r", e)
        try:
            w.close()
            await w.wait_closed()
        except Exception:
            pass

    async def _respond(self, w, status, body=b"", ctype="text/plain", headers=None):
        if isinstance(body, str):
            body = body.encode()
        h = "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n" % (
            status, _REASON.get(status, ""), ctype, len(body))
        if headers:
            for k, v in headers.items():
                h += "%s: %s\r\n" % (k, v)
        w.write(h.encode() + b"\r\n")
        if body:
            w.write(body)
        await w.drain()

    async def _serve(self, r, w):
        line = await r.readline()
        if len(line) > MAX_HEAD:
            return await self._respond(w, 431)
        try:
            method, target, _ = line.decode().split(" ", 2)
        except ValueError:
            return await self._respond(w, 400)
        size, length = len(line), 0
        while True:
            h = await r.readline()
            size += len(h)
            if size > MAX_HEAD:
                return await self._respond(w, 431)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode().partition(":")
            if k.strip().lower() == "content-length":
                length = int(v)
        if length > self.max_body:
            return await self._respond(w, 413)
        body = await r.readexactly(length) if length else b""
        path, _, qs = target.partition("?")
        path = unquote(path)
        req = Request(method, path, parse_qs(qs), body)
        fn = self.routes.get((method, path))
        if fn is None:
            if method == "GET" and self.www and not self.fallback:
                return await self._static(w, path)
            if self.fallback:
                fn = self.fallback
            else:
                return await self._respond(w, 404, "not found")
        try:
            res = fn(req)
            if res is not None and hasattr(res, "send"):
                res = await res
        except Exception as e:
            log.exc(e, "http %s" % path)
            return await self._respond(w, 500, "error")
        status, headers = 200, None
        if isinstance(res, tuple):
            status, headers, res = res[0], res[2] if len(res) > 2 else None, res[1]
        if res is None:
            return await self._respond(w, 204 if status == 200 else status, b"", headers=headers)
        if isinstance(res, (dict, list)):
            return await self._respond(w, status, json.dumps(res), "application/json", headers)
        ctype = "text/html" if res[:1] in ("<", b"<") else "text/plain"
        await self._respond(w, status, res, ctype, headers)

    async def _static(self, w, path):
        import os
        p = safe_path(path)
        if p is None:
            return await self._respond(w, 404, "not found")
        fn = self.www + p
        try:
            size = os.stat(fn)[6]
            f = open(fn, "rb")
        except OSError:
            return await self._respond(w, 404, "not found")
        ext = p.rsplit(".", 1)[-1]
        w.write(("HTTP/1.0 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (
            _TYPES.get(ext, "application/octet-stream"), size)).encode())
        buf = bytearray(256)
        try:
            while True:  # streamed: a file never has to fit in RAM
                n = f.readinto(buf)
                if not n:
                    break
                w.write(buf[:n])
                await w.drain()
        finally:
            f.close()
