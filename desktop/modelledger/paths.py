"""Where ModelLedger keeps one person's files on one machine (settings, signing keys).

Kept apart from the Qt settings code so that services and the command line can find the same
folder without importing Qt.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_DIR_ENV = "MODELLEDGER_CONFIG_DIR"


def config_folder() -> Path:
    """The user's ModelLedger config folder, or $MODELLEDGER_CONFIG_DIR when it is set."""
    configured = os.environ.get(CONFIG_DIR_ENV)
    if configured:
        return Path(configured)
    from platformdirs import user_config_path

    return user_config_path("ModelLedger", appauthor=False)
