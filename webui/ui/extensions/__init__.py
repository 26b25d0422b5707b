"""The Extensions tab: tab.py lists, enables, installs, updates and uninstalls extensions."""
