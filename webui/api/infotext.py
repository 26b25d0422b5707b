"""A1111 1.9's ``infotext`` request field: a pasted infotext fills what the request leaves unset.

A1111 (``Api.apply_infotext``) parses the text with its paste rules, sets every request field
the client did not send, and turns "Clip skip" / "VAE" into ``override_settings`` entries the
client did not give. The checkpoint is not switched: A1111's ``disable_weights_auto_swap``
option, on by default, ignores "Model hash" when pasting, and Atelier follows that default.
"""

from __future__ import annotations

from typing import TypeVar

from pipelines.diffusion.infotext import request_fields_from_infotext
from pipelines.models.manager import ModelManager
from webui.api.schemas import Txt2ImgBody

Body = TypeVar("Body", bound=Txt2ImgBody)

# Engine request field read from the infotext → the A1111 option it overrides
_SETTING_FIELDS = {"clip_skip": "CLIP_stop_at_last_layers", "vae": "sd_vae"}


def apply_infotext(body: Body, manager: ModelManager) -> tuple[Body, list[str]]:
    """``body`` with its unset fields taken from ``body.infotext``, and warnings for entries
    that could not be used (a VAE that is not installed)."""
    if not body.infotext:
        return body, []
    parsed = request_fields_from_infotext(body.infotext)
    sent = body.model_fields_set  # the null-is-default validator leaves nulls unset, as A1111
    fields = {k: v for k, v in parsed.items() if k in type(body).model_fields and k not in sent}
    overrides = dict(body.override_settings)
    warnings: list[str] = []
    for name, option in _SETTING_FIELDS.items():
        if name not in parsed or option in overrides:
            continue
        value = parsed[name]
        if option == "sd_vae":
            try:
                manager.check_vae(str(value))
            except LookupError:
                warnings.append(f"infotext: VAE {value!r} is not installed; using the selected VAE")
                continue
        overrides[option] = value
    data = {**fields, **body.model_dump(exclude_unset=True), "override_settings": overrides}
    return type(body).model_validate(data), warnings
