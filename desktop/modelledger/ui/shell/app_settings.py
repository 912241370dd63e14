"""What the application remembers between runs: window layout, last and recent workspaces.

Kept in an INI file in the user's config folder (platformdirs), not in the workspace: these are
one person's preferences on one machine, not team data.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from modelledger.paths import config_folder

MAX_RECENT_WORKSPACES = 8


class AppSettings:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_folder() / "modelledger.ini"
        self._settings = QSettings(str(self.path), QSettings.Format.IniFormat)

    def window_geometry(self) -> QByteArray | None:
        value = self._settings.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def set_window_geometry(self, geometry: QByteArray) -> None:
        self._settings.setValue("window/geometry", geometry)

    def last_workspace(self) -> str | None:
        value = self._settings.value("workspaces/last")
        return str(value) if value else None

    def recent_workspaces(self) -> list[str]:
        value = self._settings.value("workspaces/recent", [])
        if isinstance(value, str):  # QSettings returns a one-item list as a plain string
            value = [value]
        return [str(item) for item in value or [] if item]

    def remember_workspace(self, target: str) -> None:
        recent = [target, *[item for item in self.recent_workspaces() if item != target]]
        self._settings.setValue("workspaces/recent", recent[:MAX_RECENT_WORKSPACES])
        self._settings.setValue("workspaces/last", target)

    def forget_workspace(self, target: str) -> None:
        self._settings.setValue("workspaces/recent",
                                [item for item in self.recent_workspaces() if item != target])
        if self.last_workspace() == target:
            self._settings.remove("workspaces/last")

    def sync(self) -> None:
        self._settings.sync()
