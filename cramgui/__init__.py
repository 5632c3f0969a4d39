"""cramgui: the Qt console. Never imports torch."""
