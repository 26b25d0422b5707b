"""Selectable scripts (the Script dropdown; the API's ``script_name`` / ``script_args``).

The registry is ``ctx.scripts`` (one per context; no module-level registry). Built-in and
extension scripts are registered the same way, through the extension API
(``ext.add_script``). A script receives its arguments positionally — the API's
``script_args`` and the UI controls' values in the same order — so one ``run`` serves both.

Writing one::

    class Brighter(SelectableScript):
        title = "Brighter"
        args = (ScriptArg("Gain", 1.2, minimum=1.0, maximum=2.0, step=0.1),)

        def check_args(self, args): ...          # ValueError → HTTP 422 / UI notice, nothing queued
        def run(self, call):                     # one queued job; call.process() runs an engine request
            result = call.process(call.request)
            ...
            return result
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from pipelines.jobs import JobControl
from pipelines.registry import ScriptArg, TitledRegistry

if TYPE_CHECKING:
    from pipelines.diffusion.engine import GenerationEngine, GenerationResult
    from pipelines.diffusion.request import GenerationRequest


@dataclass
class ScriptCall:
    """One run of a selectable script: its base request, arguments and job control."""

    engine: "GenerationEngine"
    request: "GenerationRequest"
    args: list[Any]
    control: Optional[JobControl] = None
    kind: str = field(init=False)

    def __post_init__(self) -> None:
        from pipelines.scripts.runner import job_kind

        self.kind = job_kind(self.request)

    def with_fields(self, **fields: Any) -> "GenerationRequest":
        """A validated copy of the base request with ``fields`` changed."""
        from pipelines.scripts.runner import with_fields

        return with_fields(self.request, **fields)

    def process(self, request: "GenerationRequest") -> "GenerationResult":
        """Generate ``request`` through the normal engine path (saving, infotext, LoRA) in this job."""
        return self.engine.generate(request, self.control)


class SelectableScript:
    """Base class: set ``title`` and ``args``, override ``run`` (and ``check_args``)."""

    title: str = ""
    txt2img: bool = True
    img2img: bool = True
    args: Sequence[ScriptArg] = ()
    ui: Optional[Callable[[str], list[Any]]] = None
    """Web UI only (never called by the engine): ``ui(kind)`` builds the controls, one per
    positional argument in order; without it the UI builds them from ``args``."""

    def check_args(self, args: list[Any]) -> None:
        """Raise ValueError for arguments this script cannot use (before anything is queued)."""

    def run(self, call: ScriptCall) -> "GenerationResult":
        raise NotImplementedError


class ScriptRegistry(TitledRegistry[SelectableScript]):
    """``ctx.scripts``: the selectable scripts of one context."""

    kind = "script"

    def prepare(self, engine: "GenerationEngine", name: str, args: Sequence[Any],
                kind: Optional[str] = None) -> Callable[..., "GenerationResult"]:
        """The job function ``(request, control) -> result`` for script ``name`` with ``args``.

        ValueError before anything is queued for an unknown script, bad arguments or (when
        ``kind`` is given) a kind the script does not support; the job re-checks the kind.
        """
        script = self.find(name)
        values = list(args or [])
        if kind is not None:
            _check_kind(script, kind)
        script.check_args(values)

        def run(request: "GenerationRequest", control: Optional[JobControl] = None) -> "GenerationResult":
            call = ScriptCall(engine, request, values, control)
            _check_kind(script, call.kind)
            return script.run(call)

        return run


def _check_kind(script: SelectableScript, kind: str) -> None:
    if not getattr(script, kind, True):
        raise ValueError(f"script {script.title} does not support {kind}")
