"""Example Atelier extension (the one docs/extensions.md walks through)."""

from __future__ import annotations

from webui.extensions import AppStarted, Extension, ImageSaved

from .greeting import greeting

STARTED: list[str] = []
SAVED: list[str] = []


def setup(ext: Extension) -> None:
    def build_tab() -> None:
        import gradio as gr

        name = gr.Textbox(label="Name", elem_id="hello_name")
        out = gr.Markdown(elem_id="hello_out")
        gr.Button("Greet", elem_id="hello_greet").click(greeting, name, out, api_name="hello_greet")

    ext.add_tab("Hello", build_tab)

    @ext.router.get("/greet")
    def greet(name: str = "world") -> dict:
        return {"message": greeting(name), "extension": ext.name, "version": ext.version}

    @ext.router.get("/events")
    def events() -> dict:
        return {"started": STARTED, "saved": SAVED}

    ext.on_app_started(lambda event: STARTED.append(event.version))
    ext.on_image_saved(lambda event: SAVED.append(str(event.path)))
