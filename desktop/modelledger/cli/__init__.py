"""The command line: the same services as the desktop application, without a window.

`main` builds the parser from one module per command group (workspace, models, promotion,
audit, users, monitoring, desktop); each adds its subcommands and their handlers. Commands may
use every service; nothing below the CLI imports it.
"""
