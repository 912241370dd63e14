"""The window around the pages: the main window, the welcome page, the settings page, what the
application remembers (`app_settings`), packs opened from the Finder and the self-test.
May use every other ui package; none uses it."""
