"""The models tab: tab.py builds its layout, the *actions modules hold the callbacks that call the engine."""
