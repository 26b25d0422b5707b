"""Calling the mounted Gradio UI's event handlers the way an attacker does: raw HTTP with
hand-made payloads (``/gradio_api/queue/join`` then the ``/queue/data`` event stream)."""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterator

from gradio_client import utils as client_utils


def gradio_blocks(app: Any) -> Any:
    """The Blocks of the Gradio app that ``create_app`` mounted at ``/``."""
    mounted = next(route for route in app.routes if getattr(route, "path", None) == "")
    return mounted.app.get_blocks()


def fn_index(blocks: Any, api_name: str) -> int:
    """The id of the event handler named ``api_name``."""
    return next(d["id"] for d in blocks.config["dependencies"] if d.get("api_name") == api_name)


def default_inputs(blocks: Any, fn: int) -> list[Any]:
    """The handler's inputs as a fresh page sends them (each component's initial value)."""
    return payload_naming(blocks, list(blocks.fns[fn].inputs), None)


def file_handlers(blocks: Any) -> Iterator[tuple[int, str, list[Any]]]:
    """(fn_index, api name, inputs) of every event handler that takes at least one file
    (a component with a ``FileData`` data model: images, editors, galleries, videos …)."""
    for dependency in blocks.config["dependencies"]:
        fn = blocks.fns[dependency["id"]]
        if any(getattr(block, "data_model", None) is not None for block in fn.inputs):
            yield dependency["id"], str(dependency.get("api_name")), list(fn.inputs)


def payload_naming(blocks: Any, inputs: list[Any], path: str | None) -> list[Any]:
    """Every input's default value, with each file in the file inputs replaced by ``path``
    (None: the file inputs are left empty)."""
    components = {c["id"]: c for c in blocks.config["components"]}

    def server_file(_: dict) -> dict:
        return {"path": path, "orig_name": path.rsplit("/", 1)[-1], "meta": {"_type": "gradio.FileData"}}

    data = []
    for block in inputs:
        if getattr(block, "data_model", None) is not None and path is None:
            data.append(None)
        elif getattr(block, "data_model", None) is not None:
            example = block.example_payload()
            data.append(client_utils.traverse(example, server_file, client_utils.is_file_obj_with_meta))
        else:
            data.append(components.get(block._id, {}).get("props", {}).get("value"))
    return data


def call(client: Any, fn_index: int, data: list[Any], headers: dict[str, str] | None = None,
         session: str | None = None) -> dict[str, Any]:
    """Join the queue with ``data`` (in browser session ``session``, a new one by default) and
    read the stream to the end: the ``process_completed`` message, or ``{"status": code,
    "text": …}`` when the join itself is refused."""
    session = session or uuid.uuid4().hex
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    joined = client.post("/gradio_api/queue/join", json=body, headers=headers or {})
    if joined.status_code != 200:
        return {"status": joined.status_code, "text": joined.text}
    return _completed(client, session, headers or {})


def _completed(client: Any, session: str, headers: dict[str, str]) -> dict[str, Any]:
    last: dict[str, Any] = {}
    with client.stream("GET", f"/gradio_api/queue/data?session_hash={session}", headers=headers) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            last = json.loads(line[5:])
            if last.get("msg") in ("process_completed", "close_stream", "unexpected_error"):
                break
    return last


def find_copies(folder: Any, content: bytes) -> list[str]:
    """Files under ``folder`` whose bytes are ``content`` (a copy Gradio made of a secret)."""
    return [str(p) for p in folder.rglob("*") if p.is_file() and _same(p, content)]


def _same(path: Any, content: bytes) -> bool:
    try:
        return path.stat().st_size == len(content) and path.read_bytes() == content
    except OSError:
        return False


