"""Every UI callback that asks for the browser session gets it (jobs belong to their session).

Gradio injects ``gr.Request`` only into parameters annotated with it that come before any
``*args``; a bare ``request=None`` silently stays None, so one user's Interrupt would stop
whichever job runs. The real-browser check is tests/browser/test_txt2img.py.
"""

from __future__ import annotations

import inspect

from pipelines.context import AtelierContext


def test_every_callback_that_asks_for_the_request_receives_it(ctx: AtelierContext) -> None:
    from gradio.helpers import special_args

    from webui.ui.app import build_ui

    demo = build_ui(ctx)
    asking = [f for f in demo.fns.values() if f.fn is not None and "request" in inspect.signature(f.fn).parameters]
    assert {"generate_fn", "interrupt_fn", "skip_fn"} <= {f.name for f in asking}
    sentinel = object()
    for function in asking:
        inputs, *_ = special_args(function.fn, inputs=[None] * len(function.inputs), request=sentinel)
        assert sentinel in inputs, f"{function.name} declares `request` but Gradio never passes it"
