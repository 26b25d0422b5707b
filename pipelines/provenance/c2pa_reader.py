"""C2PA manifests (Content Credentials) with ``c2pa-python``, when it is installed.

Reading (signing is ``c2pa_signer``). Remote manifests and OCSP are not fetched: Atelier
never goes online.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Optional

NOT_INSTALLED = "C2PA: reader not installed"
_AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia",
                    "compositeSynthetic")


@dataclass(frozen=True)
class C2paResult:
    """What the manifest store says; ``state`` is found / none / not installed / unreadable."""

    state: str
    evidence: str
    generator: Optional[str] = None
    signer: Optional[str] = None
    validation: Optional[str] = None
    source_types: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ai_generated(self) -> bool:
        return any(t in _AI_SOURCE_TYPES for t in self.source_types)


@lru_cache(maxsize=1)
def _library() -> Optional[Any]:
    try:
        import c2pa
    except ImportError:
        return None
    return c2pa


@lru_cache(maxsize=1)
def _offline_context() -> Any:
    c2pa = _library()
    return c2pa.Context(c2pa.Settings.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}))


def available() -> bool:
    return _library() is not None


def _walk_actions(manifest: dict) -> tuple[list[str], list[str]]:
    actions, source_types = [], []
    for assertion in manifest.get("assertions", []):
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions", []):
            actions.append(str(action.get("action", "?")))
            if action.get("digitalSourceType"):
                source_types.append(str(action["digitalSourceType"]).rsplit("/", 1)[-1])
    return actions, source_types


def _generator(manifest: dict) -> Optional[str]:
    info = manifest.get("claim_generator_info") or []
    if info and isinstance(info[0], dict):
        return " ".join(str(info[0].get(k)) for k in ("name", "version") if info[0].get(k))
    return manifest.get("claim_generator")


def read_c2pa(data: bytes, mime: str) -> C2paResult:
    """The active C2PA manifest of a file's bytes (``mime`` e.g. ``image/png``)."""
    c2pa = _library()
    if c2pa is None:
        return C2paResult("not installed", NOT_INSTALLED)
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=_offline_context())
        if reader is None:
            return C2paResult("none", "no C2PA manifest in the file")
        with reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
    except Exception as exc:  # the native library reports malformed stores in many ways
        return C2paResult("unreadable", f"C2PA data present but unreadable: {exc}")
    manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
    actions, source_types = _walk_actions(manifest)
    signer = (manifest.get("signature_info") or {}).get("common_name") or (manifest.get("signature_info") or {}).get("issuer")
    problems = [s.get("code") for s in store.get("validation_status", []) if s.get("code")]
    validation = f"{state}" + (f" ({', '.join(problems)})" if problems else "")
    generator = _generator(manifest)
    evidence = f"manifest by {generator or 'unknown generator'}, signed by {signer or 'unknown'}; validation: {validation}"
    if source_types:
        evidence += f"; digital source type: {', '.join(source_types)}"
    return C2paResult("found", evidence, generator, signer, validation, tuple(source_types), tuple(actions),
                      {"active_manifest": store.get("active_manifest"), "title": manifest.get("title")})
