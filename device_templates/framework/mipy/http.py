# mipy.http: a tiny asyncio web server for dashboards, safe to face a hostile network.
#   srv = Server(port=80, www="/www", max_body=1024, token=None, max_conn=4, timeout=5)
#   @srv.route("/api", "GET")            handler(req) -> str | bytes | dict/list (JSON) | None (204)
#   def handler(req): ...                          | (status, body) | (status, body, {headers})
#   await srv.start(); await srv.stop()  (or srv.close() from synchronous code)
# req.method, req.path, req.query (dict), req.body (bytes), req.form() (dict of a url-encoded body), req.json().
# Static files are served from `www` only: the decoded path may not contain "..", "\", "//" or hidden (".x")
# segments; anything else is 404. In .html files up to 4 KB, "{{token}}" is replaced by the token.
# Every read is bounded and timed: the request head (line + headers) at most MAX_HEAD bytes and MAX_LINES
# lines (431), a strict Content-Length up to max_body (413; no chunked bodies), the whole request within
# `timeout` seconds. At most `max_conn` connections: a new one drops the oldest still waiting for its request.
# token: every POST/PUT/PATCH/DELETE must carry it (header X-Token, or a "token" field in the query or a
# url-encoded body), else 403: a page from another site cannot read it, so it cannot forge a request.
# Bad input costs one connection, never the device. Handlers may be async. One request per connection.
import asyncio
import json
from mipy import log

MAX_HEAD = 1024
MAX_LINES = 24
_TYPES = {"html": "text/html", "css": "text/css", "js": "application/javascript", "json": "application/json",
          "txt": "text/plain", "png": "image/png", "ico": "image/x-icon", "svg": "image/svg+xml"}
_REASON = {200: "OK", 204: "No Content", 302: "Found", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           408: "Request Timeout", 413: "Payload Too Large", 431: "Headers Too Large", 500: "Error"}


class HTTPError(Exception):
    pass


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
    return out.decode()  # UnicodeError (a ValueError) on bytes that are not UTF-8: a 400


def parse_qs(s):
    d = {}
    for part in s.split("&"):
        if part:
            k, _, v = part.partition("=")
            d[unquote(k)] = unquote(v)
    return d


class Request:
    def __init__(self, method, path, query, body, headers):
        self.method, self.path, self.query, self.body, self.headers = method, path, query, body, headers

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


async def _head(r):
    """The request head as a list of lines (str), read in chunks and never more than MAX_HEAD bytes; and
    whatever of the body came with it."""
    buf = b""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buf) > MAX_HEAD:
            raise HTTPError(431)
        chunk = await r.read(256)
        if not chunk:
            raise HTTPError(400)  # closed before the end of the head
        buf += chunk
    if end > MAX_HEAD:
        raise HTTPError(431)
    lines = buf[:end].decode().split("\r\n")  # UnicodeError: a 400
    if len(lines) > MAX_LINES:
        raise HTTPError(431)
    return lines, buf[end + 4:]


class Server:
    def __init__(self, port=80, www="/www", max_body=1024, token=None, max_conn=4, timeout=5):
        self.port, self.www, self.max_body, self.token = port, www, max_body, token
        self.max_conn, self.timeout = max_conn, timeout
        self.routes = {}
        self.fallback = None  # handler for unknown paths (the portal redirects them); default 404
        self._srv = None
        self._conns = []  # [task, reading] per open connection, oldest first

    def route(self, path, method="GET"):
        def deco(fn):
            self.routes[(method, path)] = fn
            return fn
        return deco

    async def start(self, host="0.0.0.0"):
        self._srv = await asyncio.start_server(self._handle, host, self.port)
        log.info("http: serving on port %d", self.port)

    def close(self):
        for c in self._conns:
            c[0].cancel()
        if self._srv:
            self._srv.close()

    async def stop(self):
        """close() and wait until the port is free again (the listening socket closes in the server's task)."""
        srv = self._srv
        self.close()
        self._srv = None
        if srv:
            await srv.wait_closed()

    async def _handle(self, r, w):
        me = [asyncio.current_task(), True]
        if len(self._conns) >= self.max_conn:
            idle = [c for c in self._conns if c[1]]
            if idle:
                idle[0][0].cancel()  # the oldest connection still waiting for its request: a slow client
                self._conns.remove(idle[0])
            else:
                me = None  # every slot is busy answering: this one waits for nothing
        try:
            if me:
                self._conns.append(me)
                await asyncio.wait_for(self._serve(r, w, me), self.timeout)
        except asyncio.TimeoutError:
            try:
                await self._respond(w, 408)
            except Exception:
                pass
        except Exception as e:  # CancelledError (dropped for a newer one) is a BaseException: it goes past here
            log.debug("http: %r", e)
        finally:
            if me in self._conns:
                self._conns.remove(me)
            try:
                await w.wait_closed()  # MicroPython's close() does nothing; this closes the socket
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

    async def _serve(self, r, w, me):
        try:
            lines, body = await _head(r)
            method, target, version = lines[0].split(" ")
            if not version.startswith("HTTP/"):
                raise HTTPError(400)
            headers, length = {}, 0
            for h in lines[1:]:
                k, sep, v = h.partition(":")
                k, v = k.strip().lower(), v.strip()
                if not sep or k in headers:  # a repeated header (two Content-Lengths) is a smuggling trick
                    raise HTTPError(400)
                headers[k] = v
            if "transfer-encoding" in headers:
                raise HTTPError(400)  # no chunked bodies: a length we can check first, or nothing
            v = headers.get("content-length", "0")
            if not v.isdigit() or len(v) > 6:  # no sign, no spaces, no hex: "-1" would read to the end
                raise HTTPError(400)
            length = int(v)
            if length > self.max_body:
                raise HTTPError(413)
            if length > len(body):
                body += await r.readexactly(length - len(body))
            body = body[:length]
            path, _, qs = target.partition("?")
            req = Request(method, unquote(path), parse_qs(qs), body, headers)
            if self.token and method in ("POST", "PUT", "PATCH", "DELETE"):
                t = headers.get("x-token") or req.query.get("token")
                if t is None and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                    t = req.form().get("token")
                if t != self.token:
                    log.warn("http: %s %s without the token: refused", method, req.path)
                    raise HTTPError(403)
        except HTTPError as e:
            return await self._respond(w, e.args[0], _REASON.get(e.args[0], ""))
        except ValueError:  # a request line not in three parts, a bad %xx, bytes that are not UTF-8
            return await self._respond(w, 400, "bad request")
        me[1] = False  # the request is in: no longer an idle connection to drop
        fn = self.routes.get((method, req.path))
        if fn is None:
            if method == "GET" and self.www and not self.fallback:
                return await self._static(w, req.path)
            if self.fallback:
                fn = self.fallback
            else:
                return await self._respond(w, 404, "not found")
        try:
            res = fn(req)
            if res is not None and hasattr(res, "send"):
                res = await res
        except Exception as e:
            log.exc(e, "http %s" % req.path)
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
        try:
            if ext == "html" and self.token and size <= 4096:  # small pages carry the token
                data = f.read().replace(b"{{token}}", self.token.encode())
                return await self._respond(w, 200, data, "text/html")
            w.write(("HTTP/1.0 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (
                _TYPES.get(ext, "application/octet-stream"), size)).encode())
            buf = bytearray(256)
            while True:  # streamed: a file never has to fit in RAM
                n = f.readinto(buf)
                if not n:
                    break
                w.write(buf[:n])
                await w.drain()
        finally:
            f.close()
