"""Before uploading: does a template fit the chip (figures measured by bench/heap.py, kept in template.json)?
And the set-up access point's password, generated per project when it is created."""

from __future__ import annotations

import json
import shutil

from ide.project.heap_budget import CHIP_FREE_HEAP, check
from ide.project.new_project import AP_PASSWORD_ALPHABET, ProjectSettings, ap_password_of, create_project
from ide.project.templates import get_template, list_templates, templates_dir


def test_every_template_is_measured_and_fits_an_esp32_with_room_to_spare():
    for template in list_templates():
        verdict = check(template, "esp32")
        assert verdict is not None, f"{template.name} has no heap figures: run bench/heap.py --write"
        assert verdict.comfortable, verdict.describe()


def test_a_template_too_big_for_the_chip_is_said_so(tmp_path):
    folder = tmp_path / "big"
    shutil.copytree(templates_dir() / "blink", folder)
    meta = json.loads((folder / "template.json").read_text())
    meta["heap"] = {"connected": 31 * 1024, "portal": 45 * 1024}
    (folder / "template.json").write_text(json.dumps(meta))
    verdict = check(get_template("big", tmp_path), "esp8266")
    assert not verdict.fits and verdict.worst_path == "portal" and verdict.needs == 45 * 1024
    assert "45 KB" in verdict.describe() and "ESP8266" in verdict.describe()
    assert check(get_template("big", tmp_path), "esp32").comfortable
    meta["heap"] = {"connected": CHIP_FREE_HEAP["esp8266"] - 1024}
    (folder / "template.json").write_text(json.dumps(meta))
    tight = check(get_template("big", tmp_path), "esp8266")
    assert tight.fits and not tight.comfortable and "little room" in tight.describe()
    del meta["heap"]
    (folder / "template.json").write_text(json.dumps(meta))
    assert check(get_template("big", tmp_path), "esp8266") is None  # not measured: not judged


def test_each_project_gets_its_own_access_point_password(tmp_path):
    one = create_project(get_template("wifi_portal"), tmp_path / "one", ProjectSettings(name="one"))
    two = create_project(get_template("mqtt_sensor"), tmp_path / "two", ProjectSettings(name="two"))
    first, second = ap_password_of(one.root), ap_password_of(two.root)
    assert first != second and len(first) == len(second) == 12
    assert set(first + second) <= set(AP_PASSWORD_ALPHABET)
    chosen = create_project(get_template("wifi_portal"), tmp_path / "own",
                            ProjectSettings(name="own", ap_password="my own words"))
    assert ap_password_of(chosen.root) == "my own words"
    open_ap = create_project(get_template("wifi_portal"), tmp_path / "open", ProjectSettings(ap_password=""))
    assert ap_password_of(open_ap.root) == ""
    blink = create_project(get_template("blink"), tmp_path / "blink", ProjectSettings())
    assert ap_password_of(blink.root) is None  # no Wi-Fi, no access point
