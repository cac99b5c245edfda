"""Settle's composition root: settings, the web application factory and the command line."""

from settle.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
