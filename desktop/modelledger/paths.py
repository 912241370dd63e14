"""Where ModelLedger keeps one person's files on one machine, and where its resources are.

Kept apart from the Qt code so that services and the command line find the same folders without
importing Qt. Each folder can be moved with an environment variable (tests, the installer's smoke
test and portable installs use them); otherwise it is the platform's usual place (platformdirs):

==========  ===========================================  ==========================================
folder      Linux                                        Windows / macOS
==========  ===========================================  ==========================================
config      ~/.config/ModelLedger                        %LOCALAPPDATA%\\ModelLedger /
                                                         ~/Library/Application Support/ModelLedger
data        ~/.local/share/ModelLedger                   %LOCALAPPDATA%\\ModelLedger /
                                                         ~/Library/Application Support/ModelLedger
logs        ~/.local/state/ModelLedger/log               %LOCALAPPDATA%\\ModelLedger\\Logs /
                                                         ~/Library/Logs/ModelLedger
==========  ===========================================  ==========================================
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "ModelLedger"
CONFIG_DIR_ENV = "MODELLEDGER_CONFIG_DIR"
DATA_DIR_ENV = "MODELLEDGER_DATA_DIR"
LOG_DIR_ENV = "MODELLEDGER_LOG_DIR"


def config_folder() -> Path:
    """Settings and the user's private signing keys."""
    return _user_folder(CONFIG_DIR_ENV, "user_config_path")


def data_folder() -> Path:
    """The demo workspace and the artifact folder of server workspaces."""
    return _user_folder(DATA_DIR_ENV, "user_data_path")


def log_folder() -> Path:
    """The application's rotating log files."""
    return _user_folder(LOG_DIR_ENV, "user_log_path")


def _user_folder(variable: str, platform_default: str) -> Path:
    """$``variable`` when it is set, else platformdirs' ``platform_default`` for the app."""
    configured = os.environ.get(variable)
    if configured:
        return Path(configured)
    import platformdirs

    return getattr(platformdirs, platform_default)(APP_NAME, appauthor=False)


def resources_folder() -> Path:
    """``resources/`` at the top of a checkout; in a frozen build (installer/modelledger.spec)
    it sits in the bundle's data folder, which PyInstaller names in ``sys._MEIPASS``."""
    frozen_data = getattr(sys, "_MEIPASS", None)
    if frozen_data is not None:
        return Path(frozen_data) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"
