"""The Gradio UI: app.py assembles the tabs; one folder per tab (tab.py builds it, actions.py holds its callbacks)."""
