"""Create a project from a template: copy the template's files and the framework modules it needs into a folder
of the user's choosing, write the wizard's settings into ``config.py``, and the secrets (Wi-Fi and MQTT passwords)
into ``wifi.json`` / ``secrets.json`` in the project only, listed in its ``.gitignore``. Nothing is ever written
into the templates folder."""

from __future__ import annotations

import ast
import dataclasses
import json
import logging
import re
import secrets
import shutil
from pathlib import Path

from ide.project.errors import ProjectConfigError, ProjectDirNotEmpty
from ide.project.project import BOARD_TYPES, PROJECT_FILE, Project
from ide.project.templates import FRAMEWORK_PACKAGE, Template

log = logging.getLogger(__name__)

GITIGNORE = "# Build output and secrets: never commit these.\nbuild/\nwifi.json\nsecrets.json\n__pycache__/\n"
# Pin defaults that differ between the chips (the templates are written for an ESP32 DevKit).
BOARD_PIN_DEFAULTS = {
    "esp8266": {"adc_pin": 0, "relay_pin": 5, "dht_pin": 4, "led_pin": 2, "button_pin": 0},
    "esp32": {},
}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
# The set-up access point's WPA2 password (8 to 63 characters): letters and digits a person can read off the
# screen and type on a phone without confusing 0/O or 1/l/I.
AP_PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
AP_PASSWORD_LENGTH = 12


def generate_ap_password() -> str:
    return "".join(secrets.choice(AP_PASSWORD_ALPHABET) for _ in range(AP_PASSWORD_LENGTH))


@dataclasses.dataclass
class ProjectSettings:
    """What the wizard (or ``mipy-studio new``) asks. Empty values keep the template's defaults."""

    name: str = ""
    board: str = "esp32"
    wifi_ssid: str = ""
    wifi_password: str = ""
    mqtt_server: str = ""
    mqtt_port: int = 1883
    mqtt_user: str = ""
    mqtt_password: str = ""
    ap_password: str | None = None  # the set-up access point's: None generates one, "" leaves it open
    extra: dict = dataclasses.field(default_factory=dict)  # more config.py values, verbatim

    def validate(self) -> None:
        if self.name and not NAME_PATTERN.match(self.name):
            raise ProjectConfigError("name", "use up to 32 letters, digits, '-' or '_', starting with a letter "
                                     "or digit (it becomes the device name and the MQTT client id)")
        if self.board not in BOARD_TYPES:
            raise ProjectConfigError("board", f"{self.board!r} is not one of {', '.join(BOARD_TYPES)}")
        if len(self.wifi_ssid.encode()) > 32:
            raise ProjectConfigError("wifi_ssid", "a Wi-Fi network name has at most 32 bytes")
        if self.wifi_password and not 8 <= len(self.wifi_password.encode()) <= 63:
            raise ProjectConfigError("wifi_password", "a WPA password has 8 to 63 characters")
        if self.wifi_password and not self.wifi_ssid:
            raise ProjectConfigError("wifi_ssid", "a Wi-Fi password was given without the network name")
        if not 0 < int(self.mqtt_port) < 65536:
            raise ProjectConfigError("mqtt_port", "must be between 1 and 65535")
        if self.ap_password and not 8 <= len(self.ap_password) <= 63:
            raise ProjectConfigError("ap_password", "a WPA2 password has 8 to 63 characters (empty: an open "
                                     "access point)")


def set_config_values(text: str, values: dict) -> str:
    """``text`` (a config.py) with ``name = value`` set for each item: an existing top-level assignment is
    replaced in place (its trailing comment kept), a new name is appended."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    spans: dict[str, tuple[int, int, int]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            spans[node.targets[0].id] = (node.lineno - 1, node.end_lineno - 1, node.end_col_offset)
    appended = []
    # Replace from the bottom up so earlier line numbers stay valid.
    for name, value in sorted(values.items(), key=lambda item: -spans.get(item[0], (-1,))[0]):
        if name not in spans:
            appended.append(f"{name} = {value!r}\n")
            continue
        first, last, end_col = spans[name]
        tail = lines[last][end_col:]
        lines[first:last + 1] = [f"{name} = {value!r}{tail if tail.strip() else chr(10)}"]
    result = "".join(lines)
    if appended:
        if result and not result.endswith("\n"):
            result += "\n"
        result += "".join(sorted(appended))
    return result


def config_values(template: Template, settings: ProjectSettings, current: dict) -> dict:
    """The config.py values the settings imply, for the names this template's config.py has."""
    values: dict = {}
    if settings.name:
        values["device_name"] = settings.name
        if isinstance(current.get("topic"), str) and "/" in current["topic"]:
            values["topic"] = current["topic"].rsplit("/", 1)[0] + "/" + settings.name
    for name, pin in BOARD_PIN_DEFAULTS.get(settings.board, {}).items():
        if name in current:
            values[name] = pin
    if template.uses_wifi:  # the set-up portal's access point: never open unless asked for
        values["ap_password"] = generate_ap_password() if settings.ap_password is None else settings.ap_password
    if template.uses_mqtt:
        if settings.mqtt_server:
            values["mqtt_server"] = settings.mqtt_server
        values["mqtt_port"] = int(settings.mqtt_port)
        values["mqtt_user"] = settings.mqtt_user or None
    if settings.board == "esp8266" and "ota" in current:
        # Updates over the air need about 12 KB more heap (mipy.ota, and ota_rx during an update, on the 32-bit
        # port: bench/HEAP_RESULTS.md): more than an ESP8266 has beside an MQTT template. Off unless asked for.
        values["ota"] = False
    values.update(settings.extra)
    return values


def ap_password_of(project_root: Path | str) -> str | None:
    """The set-up access point's password in a project's config.py ("" when open; None when the project sets
    none, and the board derives one from its chip id and prints it in its log)."""
    try:
        value = _literal_assignments((Path(project_root) / "config.py").read_text(encoding="utf-8")).get("ap_password")
    except (OSError, SyntaxError, ValueError):
        return None
    return value if isinstance(value, str) else None


def _literal_assignments(text: str) -> dict:
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                found[node.targets[0].id] = None
    return found


def create_project(template: Template, folder: Path | str, settings: ProjectSettings | None = None) -> Project:
    """Create a project in ``folder`` (created if missing; it must be empty). Returns the project."""
    settings = settings or ProjectSettings()
    settings.validate()
    if settings.board not in template.boards:
        raise ProjectConfigError("board", f"the {template.title} template is for {', '.join(template.boards)}")
    folder = Path(folder).resolve()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ProjectDirNotEmpty(str(folder))
    if folder == template.path.resolve() or template.path.resolve() in folder.parents:
        raise ProjectConfigError("folder", "a project cannot be created inside the templates folder")
    folder.mkdir(parents=True, exist_ok=True)
    for rel in template.files:
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template.path / rel, target)
    if (template.path / "README.md").is_file():
        shutil.copyfile(template.path / "README.md", folder / "README.md")
    package = folder / FRAMEWORK_PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    for source in template.framework_sources():
        shutil.copyfile(source, package / source.name)

    config = folder / "config.py"
    if config.is_file():
        text = config.read_text(encoding="utf-8")
        config.write_text(set_config_values(text, config_values(template, settings, _literal_assignments(text))),
                          encoding="utf-8")
    if settings.wifi_ssid:
        _write_secret_file(folder / "wifi.json", {"ssid": settings.wifi_ssid, "password": settings.wifi_password})
    if template.uses_mqtt and settings.mqtt_password:
        _write_secret_file(folder / "secrets.json", {"mqtt_password": settings.mqtt_password})
    (folder / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    project = Project(root=folder, name=settings.name or folder.name, template=template.name, board=settings.board,
                      keep_source=tuple(rel for rel in template.keep_source if rel.endswith(".py")))
    project.save()
    log.info("created %s project in %s (%s)", template.name, folder, PROJECT_FILE)
    return project


def _write_secret_file(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")
    try:
        path.chmod(0o600)  # other accounts on this computer have no business reading the Wi-Fi password
    except OSError:
        pass
