"""A1111's read-only list routes (checkpoints, samplers, schedulers, VAEs, LoRAs…) and refresh / memory routes under ``/sdapi/v1``.

Clients populate their dropdowns from these, so the shapes follow A1111 exactly.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Optional

from fastapi import APIRouter

from pipelines.context import AtelierContext
from pipelines.device import memory_report
from pipelines.diffusion import samplers
from pipelines.diffusion.engine import LATENT_UPSCALE_MODES
from pipelines.networks.embeddings import encoder_widths
from webui.api.schemas import SdModelItem
from webui.api.jobwait import run_queued


def _embedding_item(embedding: Any) -> dict[str, Any]:
    first = next(iter(embedding.vectors.values()))
    return {"step": embedding.step, "sd_checkpoint": embedding.sd_checkpoint,
            "sd_checkpoint_name": embedding.sd_checkpoint_name,
            "shape": int(first.shape[-1]), "vectors": int(embedding.num_vectors)}


def lists_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/sdapi/v1", tags=["sdapi"])

    @router.get("/sd-models", response_model=list[SdModelItem])
    def sd_models() -> list[SdModelItem]:
        # A1111's "config" is the .yaml beside the checkpoint (find_checkpoint_config_near_filename)
        return [
            SdModelItem(title=i.title, model_name=i.model_name, hash=i.shorthash, sha256=i.sha256,
                        filename=str(i.path), config=str(i.yaml_path) if i.yaml_path else None)
            for i in ctx.catalog.usable_checkpoints()
        ]

    @router.post("/refresh-checkpoints")
    def refresh_checkpoints() -> None:
        """Rescan now; new files are hashed by the background hasher, as at start-up (their
        ``hash`` / ``sha256`` read null until it is done, as in A1111)."""
        ctx.catalog.refresh(hash_missing=False)
        ctx.library.hash_missing()

    @router.get("/samplers")
    async def list_samplers() -> list[dict]:
        return samplers.list_samplers()

    @router.get("/schedulers")
    async def list_schedulers() -> list[dict]:
        return samplers.list_schedulers()


    @router.get("/sd-vae")
    def sd_vae() -> list[dict[str, str]]:
        return [{"model_name": v.name, "filename": str(v.path)} for v in ctx.catalog.usable_vaes()]

    @router.post("/refresh-vae")
    def refresh_vae() -> None:
        ctx.catalog.refresh(hash_missing=False)

    @router.get("/loras")
    def loras() -> list[dict[str, Any]]:
        return [{"name": i.name, "alias": i.alias, "path": str(i.path), "metadata": i.metadata}
                for i in ctx.lora_catalog.items if i.error is None]  # broken ones: GET /atelier/v1/status

    @router.post("/refresh-loras")
    def refresh_loras() -> None:
        ctx.lora_catalog.refresh()

    @router.get("/embeddings")
    def embeddings() -> dict[str, dict[str, Any]]:
        current = ctx.manager.current
        if current is None:
            usable, skipped = ctx.embeddings.embeddings, {}
        else:
            usable, skipped = ctx.embeddings.for_model(encoder_widths(current.components))
        return {"loaded": {n: _embedding_item(e) for n, e in usable.items()},
                "skipped": {n: _embedding_item(e) for n, e in skipped.items()}}

    @router.post("/refresh-embeddings")
    def refresh_embeddings() -> None:
        ctx.embeddings.refresh()

    @router.get("/prompt-styles")
    def prompt_styles() -> list[dict[str, str]]:
        return [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt}
                for s in ctx.styles.styles.values()]

    @router.get("/hypernetworks")
    def hypernetworks() -> list:
        return []  # hypernetworks are obsolete; A1111 clients expect the route

    @router.get("/upscalers")
    def upscalers() -> list[dict[str, Optional[Any]]]:
        return [{"name": i.name, "model_name": i.model_name, "model_path": str(i.model_path) if i.model_path else None,
                 "model_url": None, "scale": i.scale} for i in ctx.upscalers.usable]

    @router.get("/latent-upscale-modes")
    def latent_upscale_modes() -> list[dict[str, str]]:
        return [{"name": name} for name in LATENT_UPSCALE_MODES]

    @router.get("/face-restorers")
    def face_restorers() -> list[dict[str, str]]:
        """The ONNX restorers of ``models/facerestore`` as A1111 names them ("CodeFormer", "GFPGAN";
        other files by name), the names the ``face_restoration_model`` option takes."""
        folder = str(ctx.faces.layout.restore_dir)
        return [{"name": name, "cmd_dir": folder} for name in ctx.face_restoration.names()]

    @router.get("/realesrgan-models")
    def realesrgan_models() -> list[dict[str, Any]]:
        folder = ctx.upscalers.models_dir / "RealESRGAN"
        return [{"name": i.name, "path": str(i.model_path), "scale": i.scale} for i in ctx.upscalers.usable
                if i.model_path is not None and i.model_path.is_relative_to(folder)]

    @router.get("/scripts")
    def scripts() -> dict[str, list[str]]:
        """Selectable scripts, then always-on ones (A1111 lists both, lower-case)."""
        return {kind: [title.lower() for title in ctx.scripts.titles(kind) + ctx.alwayson.titles(kind)]
                for kind in ("txt2img", "img2img")}

    @router.get("/script-info")
    def script_info() -> list[dict[str, Any]]:
        """Every script per kind with its described arguments (A1111's shape)."""
        return [{"name": s.title.lower(), "is_alwayson": always, "is_img2img": kind == "img2img",
                 "args": [asdict(a) for a in s.args]}
                for always, registry in ((False, ctx.scripts), (True, ctx.alwayson))
                for s in registry.scripts for kind in ("txt2img", "img2img") if getattr(s, kind, True)]

    @router.post("/unload-checkpoint")
    async def unload_checkpoint() -> None:
        await run_queued(ctx.queue, "unload-model", lambda control: ctx.manager.unload())

    @router.post("/reload-checkpoint")
    async def reload_checkpoint() -> None:
        await run_queued(ctx.queue, "load-model", lambda control: ctx.manager.checkpoint(None))

    @router.get("/memory")
    def memory() -> dict[str, Any]:
        return memory_report()

    return router
