"""Extensions tab: what is installed, enable / disable, install from a git URL, update, remove."""

from __future__ import annotations

from typing import Any

import logging

import gradio as gr

from webui.extensions.api import ExtensionTab
from webui.extensions.gitops import ExtensionInstallError
from webui.extensions.host import ExtensionHost
from webui.ui.common import user_error

log = logging.getLogger(__name__)

HEADERS = ["Name", "Version", "Status", "Enabled", "Description", "Error", "Folder"]


def extension_rows(host: ExtensionHost) -> list[list[Any]]:
    """One table row per extension folder, broken ones included."""
    return [[r.name, r.manifest.version if r.manifest else "", r.status, "yes" if r.enabled else "no",
             r.manifest.description if r.manifest else "", r.error or "", str(r.folder)] for r in host.records]


def apply_enabled(host: ExtensionHost, enabled_names: list[str]) -> str:
    """Persist the enabled set (checkbox state); applies on restart."""
    for record in host.records:
        host.set_enabled(record.name, record.name in enabled_names)
    return "Saved. Restart Atelier to apply."


def run_change(host: ExtensionHost, action: str, target: str, name: str = "") -> str:
    """install (target = URL) / update / uninstall (target = extension name): a message for the user.

    Raises ExtensionInstallError (refused, git failed) or LookupError (no such extension).
    """
    if action == "install":
        folder = host.install(target, name or None)
        return f"Installed into {folder}. Restart Atelier to load it."
    if not target:
        raise ExtensionInstallError("choose an extension first")
    if action == "update":
        return f"{target}: {host.update(target)}. Restart Atelier to load the new version."
    if action == "uninstall":
        host.uninstall(target)
        return f"Removed {target}. Restart Atelier to unload it."
    raise ValueError(f"unknown action {action!r}")


def extensions_tab(host: ExtensionHost) -> None:
    names = [r.name for r in host.records]
    table = gr.Dataframe(headers=HEADERS, value=extension_rows(host), interactive=False, elem_id="extensions_table")
    enabled = gr.CheckboxGroup(names, value=[r.name for r in host.records if r.enabled], label="Enabled",
                               elem_id="extensions_enabled")
    apply = gr.Button("Apply (restart needed)", elem_id="extensions_apply")
    status = gr.Markdown(elem_id="extensions_status")
    with gr.Accordion("Install from URL", open=not host.records):
        if not host.allow_install:
            gr.Markdown("Installing is disabled while listening publicly "
                        "(`--enable-insecure-extension-access` allows it).")
        with gr.Row():
            url = gr.Textbox(label="Git repository URL", scale=3, elem_id="extensions_url")
            folder = gr.Textbox(label="Folder name (optional)", scale=1, elem_id="extensions_folder")
        install = gr.Button("Install", variant="primary", interactive=host.allow_install, elem_id="extensions_install")
    with gr.Row():
        chosen = gr.Dropdown(names, label="Extension", elem_id="extensions_chosen")
        update = gr.Button("Update (git pull)", interactive=host.allow_install)
        remove = gr.Button("Uninstall", variant="stop", interactive=host.allow_install)

    outputs = [status, table, enabled, chosen]

    def refreshed(message: str) -> tuple:
        names = [r.name for r in host.records]
        return message, extension_rows(host), gr.update(choices=names), gr.update(choices=names)

    def change(action: str, target: str, name: str = "") -> tuple:
        """A refused or failed action is a notice and a status line; the table and controls stay
        as they were (an error raised to Gradio would mark every output as failed until reload)."""
        try:
            with user_error(LookupError):  # ExtensionInstallError is a ValueError
                return refreshed(run_change(host, action, target, name))
        except gr.Error as exc:
            gr.Warning(exc.message)
            return f"⚠ {exc.message}", gr.update(), gr.update(), gr.update()

    apply.click(lambda chosen_names: refreshed(apply_enabled(host, chosen_names)), enabled, outputs)
    install.click(lambda u, f: change("install", u, f), [url, folder], outputs)
    update.click(lambda n: change("update", n), chosen, outputs)
    remove.click(lambda n: change("uninstall", n), chosen, outputs)


def build_extension_tab(tab: ExtensionTab) -> None:
    """Build an extension's tab inside the current gr.Tab; a failure shows its error instead."""
    try:
        with gr.Column():
            tab.build()
    except Exception as exc:  # noqa: BLE001 - an extension's UI code must not stop the app
        log.exception("tab %r of extension %s failed to build", tab.title, tab.owner)
        gr.Markdown(f"Extension **{tab.owner}** failed to build this tab: `{type(exc).__name__}: {exc}`")
