"""The project commands end to end through the command line, on a virtual board."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import needs_virtual_board

pytestmark = needs_virtual_board


def test_new_deploy_and_run_project_from_the_command_line(tmp_path):
    env = {**os.environ, "MIPY_PORT": "virtual", "XDG_DATA_HOME": str(tmp_path / "data")}

    def cli(*args):
        result = subprocess.run([sys.executable, "-m", "ide", *args], capture_output=True, text=True, env=env,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout + result.stderr

    project = tmp_path / "demo"
    cli("new", "blink", str(project), "--name", "demo")
    first = cli("deploy", str(project))
    assert "uploaded 7 files" in first and "/main.py" in first
    listing = cli("ls", "/lib/mipy")
    assert "app.mpy" in listing and "app.py" not in listing  # the framework went compiled
    assert "uploaded 0 files" in cli("deploy", str(project))  # nothing changed: nothing sent
    (project / "main.py").write_text((project / "main.py").read_text() + "\nprint('edited run')\n")
    output = cli("run-project", str(project), "--seconds", "3")
    assert "uploaded 1 file (" in output
    assert "ready" in output
