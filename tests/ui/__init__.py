"""Tests of the Gradio UI (webui/ui/): tab callbacks, forms, sessions, gradio_client."""
