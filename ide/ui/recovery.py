"""Never lose an edit: unsaved buffers are copied to a recovery folder every few seconds and offered back at the
next start if the app did not exit cleanly (a clean exit empties the folder).

The folder is the platformdirs user data dir + "recovery", or ``$MIPY_STUDIO_RECOVERY_DIR``, or the ``root``
given to :class:`RecoveryStore`. One JSON file per buffer, written atomically (temporary file + replace).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

RECOVERY_ENV = "MIPY_STUDIO_RECOVERY_DIR"
#: How often unsaved buffers are written out.
AUTOSAVE_INTERVAL_MS = 3000


@dataclass(frozen=True)
class RecoveredBuffer:
    """An unsaved buffer found in the recovery folder. ``path`` is None for an untitled buffer."""

    key: str
    path: str | None
    name: str
    text: str
    saved_at: float


def default_root() -> Path:
    env = os.environ.get(RECOVERY_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("MiPy Studio", "MiPy Studio")) / "recovery"


class RecoveryStore:
    """The recovery folder."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else default_root()

    def _file(self, key: str) -> Path:
        return self.root / (hashlib.sha1(key.encode("utf-8")).hexdigest()[:16] + ".json")

    def save(self, key: str, path: str | None, name: str, text: str) -> None:
        """Store (or replace) the buffer for ``key``. Raises OSError when the folder is not writable."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._file(key)
        temp = target.with_suffix(".tmp")
        temp.write_text(json.dumps({"key": key, "path": path, "name": name, "text": text,
                                    "saved_at": time.time()}), encoding="utf-8")
        os.replace(temp, target)

    def remove(self, key: str) -> None:
        """Forget ``key`` (saved or closed)."""
        try:
            self._file(key).unlink()
        except FileNotFoundError:
            pass

    def keys(self) -> set[str]:
        return {b.key for b in self.pending()}

    def pending(self) -> list[RecoveredBuffer]:
        """Buffers left by a previous session (or this one), oldest first; unreadable files are skipped."""
        if not self.root.is_dir():
            return []
        found = []
        for file in self.root.glob("*.json"):
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
                found.append(RecoveredBuffer(data["key"], data.get("path"), data["name"], data["text"],
                                             float(data.get("saved_at", 0))))
            except (OSError, ValueError, KeyError):
                continue
        return sorted(found, key=lambda b: b.saved_at)

    def clear(self) -> None:
        """Empty the folder (clean exit, or after the user declined recovery)."""
        if self.root.is_dir():
            for file in list(self.root.glob("*.json")) + list(self.root.glob("*.tmp")):
                file.unlink(missing_ok=True)
