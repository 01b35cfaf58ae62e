"""New project and build, with the real templates and the real mpy-cross compilers (no board needed)."""

from __future__ import annotations

import hashlib
import json

import pytest

from ide.cli import main as cli_main
from ide.explain import explain
from ide.project.build import MpyTarget, build_project, find_compiler
from ide.project.errors import (BuildSyntaxError, ProjectConfigError, ProjectDirNotEmpty, TemplateNotFound,
                                UnsupportedMpyVersion)
from ide.project.new_project import ProjectSettings, create_project, set_config_values
from ide.project.project import load_project
from ide.project.templates import get_template, list_templates, templates_dir


def _tree_hash(folder, skip=None):
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not (skip and path.is_relative_to(skip)):
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_gallery_lists_every_template_with_a_description():
    names = [t.name for t in list_templates()]
    assert set(names) >= {"blink", "mqtt_sensor", "mqtt_relay", "web_dashboard", "wifi_portal"}
    assert names[0] == "blink"  # simplest first
    assert all(t.description and t.title for t in list_templates())
    with pytest.raises(TemplateNotFound) as error:
        get_template("../device_templates/blink")
    assert "blink" in error.value.available and "no project template" in explain(error.value)


def test_new_project_writes_settings_and_keeps_secrets_out_of_templates(tmp_path):
    before = _tree_hash(templates_dir())
    settings = ProjectSettings(name="kitchen", board="esp8266", wifi_ssid="HomeWiFi", wifi_password="secret123",
                               mqtt_server="10.0.0.5", mqtt_port=1884, mqtt_user="ha", mqtt_password="mqttpw99")
    project = create_project(get_template("mqtt_sensor"), tmp_path / "kitchen", settings)
    root = project.root
    config = {}
    exec((root / "config.py").read_text(), config)
    assert (config["device_name"], config["mqtt_server"], config["mqtt_port"], config["mqtt_user"]) == \
        ("kitchen", "10.0.0.5", 1884, "ha")
    assert config["topic"] == "home/kitchen" and config["adc_pin"] == 0  # ESP8266's only ADC
    assert "# readings on <topic>/reading" in (root / "config.py").read_text()  # comments kept
    assert json.loads((root / "wifi.json").read_text()) == {"ssid": "HomeWiFi", "password": "secret123"}
    assert json.loads((root / "secrets.json").read_text()) == {"mqtt_password": "mqttpw99"}
    assert "secret123" not in (root / "config.py").read_text()
    ignored = (root / ".gitignore").read_text().split()
    assert {"wifi.json", "secrets.json", "build/"} <= set(ignored)
    assert sorted(p.name for p in (root / "lib" / "mipy").iterdir()) == \
        sorted(m + ".py" for m in get_template("mqtt_sensor").framework)
    assert _tree_hash(templates_dir()) == before  # nothing written into the templates
    assert load_project(root).board == "esp8266"
    with pytest.raises(ProjectDirNotEmpty):
        create_project(get_template("blink"), root)
    with pytest.raises(ProjectConfigError) as error:
        create_project(get_template("blink"), tmp_path / "x", ProjectSettings(wifi_password="short", wifi_ssid="n"))
    assert error.value.field == "wifi_password"


def test_set_config_values_replaces_in_place_and_appends():
    text = 'a = 1  # one\nb = (\n    2,\n)\n'
    assert set_config_values(text, {"b": 3, "a": "x", "c": None}) == "a = 'x'  # one\nb = 3\nc = None\n"


def _mpy_header(path):
    return path.read_bytes()[:4]


def test_build_compiles_all_but_entry_points_into_build_folder(tmp_path):
    project = create_project(get_template("web_dashboard"), tmp_path / "dash")
    sources_before = _tree_hash(project.root, project.root / "build")
    result = build_project(project, MpyTarget(6, 3, "x64"))
    by_path = {f.board_path: f for f in result.files}
    assert {"/main.py", "/config.py", "/www/index.html", "/lib/mipy/app.mpy", "/lib/mipy/__init__.mpy"} <= \
        set(by_path)
    assert not any(p.endswith(".py") and p.startswith("/lib/") for p in by_path)
    assert "/README.md" not in by_path and "/mipy_project.json" not in by_path
    assert _mpy_header(by_path["/lib/mipy/http.mpy"].local)[:2] == b"M\x06"
    assert by_path["/main.py"].local.read_bytes() == (project.root / "main.py").read_bytes()
    assert all(f.local.is_relative_to(project.root / "build") for f in result.files)
    # the sources are untouched: everything new is in build/
    assert _tree_hash(project.root, project.root / "build") == sources_before
    again = build_project(project, MpyTarget(6, 3, "x64"))
    assert (again.compiled, again.reused) == (0, len(result.files))
    (project.root / "lib" / "mipy" / "hw.py").write_text((project.root / "lib/mipy/hw.py").read_text() + "\n# x\n")
    (project.root / "www" / "index.html").unlink()
    third = build_project(project, MpyTarget(6, 3, "x64"))
    assert third.compiled == 1 and not (project.root / "build" / "www").exists()


@pytest.mark.parametrize("rel, line", [("main.py", 3), ("lib/mipy/hw.py", 2)])
def test_syntax_error_is_reported_at_its_file_and_line(tmp_path, rel, line):
    project = create_project(get_template("blink"), tmp_path / "p")
    path = project.root / rel
    lines = path.read_text().splitlines()
    lines[line - 1] = "def broken(:"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BuildSyntaxError) as error:
        build_project(project, MpyTarget(6, 3, None))
    assert (error.value.file, error.value.line) == (rel, line)
    assert error.value.path == str(path)
    assert f"{rel}, line {line}" in explain(error.value) and "Nothing was uploaded" in explain(error.value)


def test_older_firmware_gets_the_matching_mpy_cross(tmp_path):
    project = create_project(get_template("blink"), tmp_path / "p", ProjectSettings(board="esp8266"))
    # ESP8266 on MicroPython 1.12-1.18: .mpy version 5, unicode flag, xtensa
    old = build_project(project, MpyTarget(5, 2, "xtensa", "1.18.0"))
    app = next(f for f in old.files if f.board_path == "/lib/mipy/app.mpy")
    assert _mpy_header(app.local)[:2] == b"M\x05" and _mpy_header(app.local)[2] & 3 == 2
    assert "-march=xtensa" in find_compiler(MpyTarget(5, 2, "xtensa")).args
    # ESP32 on 1.20: 6.1; the build is redone for the new compiler
    new = build_project(project, MpyTarget(6, 1, "xtensawin", "1.20.0"))
    assert new.compiled == len(new.files)
    assert "6.1" in find_compiler(MpyTarget(6, 1, "xtensawin")).identity
    with pytest.raises(UnsupportedMpyVersion):
        build_project(project, MpyTarget(7, 0, None))


def test_targets_from_what_the_board_reports():
    esp32 = MpyTarget.from_mpy_value(6 | (3 << 8) | (10 << 10))
    assert (esp32.version, esp32.sub_version, esp32.arch) == (6, 3, "xtensawin")
    assert MpyTarget.from_release((1, 18, 0)).version == 5
    assert MpyTarget.from_release((1, 21, 0)).sub_version == 1


def test_cli_new_and_build(tmp_path, capsys):
    folder = tmp_path / "cli"
    assert cli_main(["new", "mqtt_relay", str(folder), "--name", "relay9", "--mqtt-server", "10.1.1.1"]) == 0
    assert cli_main(["build", str(folder)]) == 0
    assert (folder / "build" / "lib" / "mipy" / "mqtt.mpy").is_file()
    assert cli_main(["build", str(folder), "--mpy", "5"]) == 0
    assert _mpy_header(folder / "build" / "lib" / "mipy" / "mqtt.mpy")[:2] == b"M\x05"
    (folder / "config.py").write_text("x = (\n")
    assert cli_main(["build", str(folder)]) == 2
    assert "config.py, line" in capsys.readouterr().err
