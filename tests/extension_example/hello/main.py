"""Example Atelier extension (the one docs/extensions.md walks through)."""

from __future__ import annotations

from PIL import Image

from webui.extensions import AppStarted, Extension, ImageSaved, PostprocessInfo, ScriptArg, ScriptCall, SelectableScript

from .greeting import greeting

STARTED: list[str] = []
SAVED: list[str] = []


class HelloSteps(SelectableScript):
    """A selectable script with one slider: generate with that many steps, noted in the infotext."""

    title = "Hello steps"
    args = (ScriptArg("Steps", 2, minimum=1, maximum=8, step=1),)

    def check_args(self, args: list) -> None:
        if not args or not 1 <= int(args[0]) <= 8:
            raise ValueError("Hello steps: Steps must be between 1 and 8")

    def run(self, call: ScriptCall):
        steps = int(call.args[0])
        return call.process(call.with_fields(steps=steps, extra={**call.request.extra, "Hello steps": steps}))


def red_corner(image: Image.Image, info: PostprocessInfo) -> Image.Image:
    """Post-processor: a 4x4 red square in the top-left corner of every saved image."""
    marked = image.convert("RGB")
    marked.paste((255, 0, 0), (0, 0, 4, 4))
    return marked


def setup(ext: Extension) -> None:
    ext.add_script(HelloSteps())
    ext.add_postprocessor(red_corner)

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

    def started(event: AppStarted) -> None:
        STARTED.append(event.version)

    def saved(event: ImageSaved) -> None:
        SAVED.append(str(event.path))

    ext.on_app_started(started)
    ext.on_image_saved(saved)
