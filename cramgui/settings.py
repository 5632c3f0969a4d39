"""The console's remembered settings (QSettings, organisation "cramgui"): runs folder, window geometry and dock
layout, last tab. $CRAMGUI_SETTINGS names an INI file to use instead (tests, a portable setup)."""
from __future__ import annotations

import os

from PySide6.QtCore import QSettings

ORGANISATION = APPLICATION = "cramgui"


def settings() -> QSettings:
    path = os.environ.get("CRAMGUI_SETTINGS")
    if path:
        return QSettings(path, QSettings.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)


def get_str(key: str, default: str = "") -> str:
    v = settings().value(key, default)
    return v if isinstance(v, str) else default
