"""Refreshing the firmware catalog from download pages shaped like micropython.org's, served locally."""

from __future__ import annotations

import http.server
import threading

import pytest

from ide.flasher import catalog as catalog_module
from ide.flasher.errors import DownloadFailed

PAGES = {
    "ESP32_GENERIC": ['ESP32_GENERIC-20241129-v1.24.1.bin', 'ESP32_GENERIC-20260705-v1.29.0.bin',
                      'ESP32_GENERIC-SPIRAM-20260705-v1.29.0.bin', 'ESP32_GENERIC-20250415-v1.25.0.bin',
                      'ESP32_GENERIC-20260801-v1.30.0-preview.12.g1234abcd.bin'],
    "ESP8266_GENERIC": ['ESP8266_GENERIC-20260705-v1.29.0.bin', 'ESP8266_GENERIC-FLASH_1M-20260705-v1.29.0.bin'],
}


@pytest.fixture
def download_site():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            board = self.path.strip("/").split("/")[-1]
            files = PAGES.get(board, [])
            body = "".join(f'<li><a href="/resources/firmware/{name}">{name}</a></li>' for name in files).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/download/"
    server.shutdown()


def test_refresh_picks_the_newest_release_of_each_entry(download_site, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bundled = catalog_module.load_catalog(catalog_module.CATALOG_PATH)
    refreshed = catalog_module.refresh_catalog(download_site)
    assert refreshed.version == "1.29.0"
    esp32 = refreshed.find("esp32")
    assert esp32.file == "ESP32_GENERIC-20260705-v1.29.0.bin"  # not the preview, not an older one
    assert esp32.url.startswith("https://micropython.org/resources/firmware/")
    assert refreshed.find("esp32", "SPIRAM").file == "ESP32_GENERIC-SPIRAM-20260705-v1.29.0.bin"
    assert refreshed.find("esp8266").file == "ESP8266_GENERIC-20260705-v1.29.0.bin"
    # Boards the site does not list keep their bundled entry.
    assert refreshed.find("esp32c3").file == bundled.find("esp32c3").file
    # From now on the refreshed copy is the one in use.
    assert catalog_module.load_catalog().version == "1.29.0"


def test_offline_refresh_fails_clearly_and_keeps_the_bundled_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DownloadFailed):
        catalog_module.refresh_catalog("http://127.0.0.1:9/download/", timeout=2)
    assert catalog_module.load_catalog().version == catalog_module.load_catalog(catalog_module.CATALOG_PATH).version
