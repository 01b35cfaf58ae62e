# `make run` and `make test` each do all the set-up on a fresh machine: create .venv, install the project
# and what it needs. The stamp file makes a second run quick: it is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: run test bench venv clean system-test-deps

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade "pip>=24"
	$(BIN)/python -m pip install $(PIP_QUIET) -e ".[test,installer]"
	# MicroPython type stubs for completion, one folder per port (ide/lang/stubs.py reads them; an installer
	# ships resources/stubs/ as is). --no-deps: their one dependency, micropython-stdlib-stubs, only adds
	# helper types (_mpy_shed); completion and call tips work without it.
	rm -rf resources/stubs/esp32 resources/stubs/esp8266
	$(BIN)/python -m pip install $(PIP_QUIET) --no-deps --target resources/stubs/esp32 "micropython-esp32-stubs==1.29.0.post1"
	$(BIN)/python -m pip install $(PIP_QUIET) --no-deps --target resources/stubs/esp8266 "micropython-esp8266-stubs==1.29.0.post1"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mipy-studio

# What the end-to-end tests drive besides Python: a real browser (Debian's chromium) for the web templates, and
# the MQTT broker users run (Debian's mosquitto).
# Quick when present; installed with apt-get where we may (CI runs as root); the browser test skips otherwise.
system-test-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		{ apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }; } \
		|| echo "chromium not installed: the browser test will be skipped"; }
	@{ command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; } || { [ "$$(id -u)" = 0 ] && \
		command -v apt-get >/dev/null 2>&1 && { apt-get install -y -qq mosquitto >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq mosquitto; }; } \
		|| echo "mosquitto not installed: the Mosquitto tests will be skipped"; }
	@# gcc -m32 builds the 32-bit MicroPython (tests/peers.py) on which heap figures are a chip's.
	@echo 'int main(void){return 0;}' | gcc -m32 -x c - -o /dev/null 2>/dev/null || { [ "$$(id -u)" = 0 ] && \
		command -v apt-get >/dev/null 2>&1 && { apt-get install -y -qq gcc-multilib >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq gcc-multilib; }; } \
		|| echo "gcc-multilib not installed: the 32-bit heap tests will be skipped"; }

test: $(STAMP) system-test-deps
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/transfer.py
	$(BIN)/python bench/flash.py
	$(BIN)/python bench/run_project.py
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) build dist *.egg-info

# Installers (docs/installers.md): the PyInstaller bundle in dist/mipy-studio/ (dist/MiPy Studio.app on macOS) and,
# on Debian/Ubuntu, dist/mipy-studio_<version>_<arch>.deb plus a portable dist/mipy-studio-<version>-linux-<arch>.tar.gz.
# DEB_COMPRESSION=zstd builds the .deb in seconds instead of a minute and a half (xz: smaller, readable by any dpkg).
INSTALLER_STAMP := $(VENV)/.installer-stamp

$(INSTALLER_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install $(PIP_QUIET) -e ".[installer]"
	touch $(INSTALLER_STAMP)

.PHONY: installer
installer: $(INSTALLER_STAMP)
	$(BIN)/python -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller build_installer.spec
	if command -v dpkg-deb >/dev/null 2>&1; then $(BIN)/python packaging/linux/build_deb.py; \
	else echo "dpkg-deb not found: .deb and .tar.gz skipped (they are built on Debian/Ubuntu)"; fi
