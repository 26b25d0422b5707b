"""What the buttons under the gallery do (save, open outputs folder, send elsewhere), as plain
functions over the shown images; the Gradio layer only wires them."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from PIL import Image

from pipelines.context import AtelierContext
from webui.ui.generation import actions
from webui.errors import UserError

# {"image": PIL image, "infotext": str, "seed": int, "footer": html}; plain, so gr.State copies it
Entry = dict[str, Any]


def gallery_entries(result: Any) -> list[Entry]:
    """The shown images of a result with the infotext and seed of each (and the job's footer)."""
    footer = actions.result_footer(result)
    return [{"image": image, "infotext": text, "seed": seed, "footer": footer}
            for image, text, seed in zip(result.images, result.infotexts, result.seeds)]


def selected_info(entries: Optional[list[Entry]], index: Optional[int]) -> str:
    """Generation info for the image picked in the gallery (A1111: the info follows the selection)."""
    if not entries:
        return ""
    entry = selected(entries, index)
    return actions.infotext_html(entry.get("infotext") or "", entry.get("footer", ""))


def selected(entries: Optional[list[Entry]], index: Optional[int]) -> Entry:
    """The image picked in the gallery (the first one when nothing is picked)."""
    if not entries:
        raise UserError("Generate an image first: the gallery is empty.")
    index = index if index is not None and 0 <= index < len(entries) else 0
    return entries[index]


def saved_folder(ctx: AtelierContext) -> Path:
    """``<outputs>/saved`` unless the outdir_save setting moved it."""
    return ctx.writer.base_folder("saved")


def save_selected(ctx: AtelierContext, entries: Optional[list[Entry]], index: Optional[int]) -> Path:
    """Copy the picked image, infotext included, into the saved folder, plus a ``.txt`` beside it."""
    entry = selected(entries, index)
    text = entry.get("infotext") or ""
    path = ctx.writer.save_numbered(entry["image"], saved_folder(ctx), str(entry.get("seed", "image")), text)
    path.with_suffix(".txt").write_text(text, encoding="utf-8")
    return path


def outputs_folder(ctx: AtelierContext, kind: str) -> Path:
    """Today's output folder of ``kind`` (created, so a file manager can open it)."""
    folder = ctx.writer.folder(kind)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def is_local_client(host: Optional[str]) -> bool:
    """True when the browser runs on this machine (only then may a file manager open)."""
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def open_in_file_manager(folder: Path, client_host: Optional[str]) -> bool:
    """Open ``folder`` in the desktop's file manager for a local user with a desktop; else False."""
    if not is_local_client(client_host):
        return False
    if sys.platform == "win32":
        os.startfile(folder)  # type: ignore[attr-defined]  # noqa: S606
        return True
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    has_desktop = sys.platform == "darwin" or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if not has_desktop or shutil.which(opener) is None:
        return False
    subprocess.Popen([opener, str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return True


def send_values(entry: Entry) -> tuple[Image.Image, dict[str, Any]]:
    """The image and the form values of its infotext, for "Send to img2img / inpaint"."""
    return entry["image"], actions.parse_prompt_box(entry.get("infotext") or "") or {}
