"""/atelier/v1 routes of the Faces engine: face detection and image face swap.

Routes translate only: decode the images, call ``ctx.faces`` through the job queue (one engine
job at a time), encode the result. Engine errors a client can fix (no face, index out of range,
missing model file) are ``FaceError`` → 422 with the message.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from pipelines.context import AtelierContext
from pipelines.faces.masks import MaskOptions
from pipelines.faces.swap import selected_targets
from pipelines.faces.types import DetectedFace, FaceOrder
from webui.imagecodec import decode_image, encode_png_base64
from webui.api.jobwait import run_queued


class DetectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str = Field(description="base64 image or data URL")
    order: FaceOrder = "left-right"
    min_score: float = Field(0.5, ge=0.0, le=1.0)


class SwapBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_image: Optional[str] = Field(None, description="base64 image or data URL holding the source face")
    face_model: Optional[str] = Field(None, description="a saved face model in models/faces (instead of source_image)")
    target_image: str
    source_face_index: int = Field(0, ge=0)
    target_face_indices: Union[list[int], Literal["all"]] = Field(default_factory=lambda: [0])
    method: str = Field("auto", description="auto, inswapper, classic or 'trained model: <name>' (models/dfl)")
    restore: Optional[str] = Field(None, description="restorer file in models/facerestore, e.g. GFPGANv1.4.onnx")
    restore_weight: float = Field(1.0, ge=0.0, le=1.0)
    reference_image: Optional[str] = None
    threshold: Optional[float] = Field(None, gt=0.0, le=2.0, description="reference identity distance; "
                                       "default: the embedding model's own (arcface 0.6, dlib 0.07)")
    gender: Optional[Literal["M", "F"]] = None
    mask_erosion: float = Field(MaskOptions.erosion, ge=0.0, le=0.45)
    mask_blur: float = Field(MaskOptions.blur, ge=0.0, le=0.5)
    opacity: float = Field(1.0, ge=0.0, le=1.0)
    blend: Literal["multiband", "poisson", "alpha"] = "multiband"
    order: FaceOrder = "left-right"
    face_selector_mode: Optional[Literal["many", "one", "reference"]] = Field(
        None, description="FaceFusion's selector: every face, the first in `order`, or those like the reference "
                          "face; overrides target_face_indices")
    save_images: bool = True


def face_json(face: DetectedFace) -> dict:
    """One face as the API returns it (no embedding vector: it identifies a person)."""
    data: dict = {"box": [round(v, 2) for v in face.box], "score": round(face.score, 4),
                  "kps5": face.kps5.round(2).tolist(),
                  "landmarks": None if face.landmarks is None else face.landmarks.round(2).tolist()}
    for key in ("age", "gender", "embedding_model"):
        if getattr(face, key) is not None:
            data[key] = getattr(face, key)
    return data


def faces_router(ctx: AtelierContext) -> APIRouter:
    router = APIRouter(prefix="/atelier/v1", tags=["atelier"])

    # async: a request waiting for the queue holds no worker thread (decoding and encoding do)
    @router.post("/faces/detect")
    async def faces_detect(body: DetectBody) -> dict:
        image = await run_in_threadpool(decode_image, body.image, "image", ctx.engine.limits.input_budget())
        faces = await run_queued(ctx.queue, "faces-detect", lambda control: ctx.faces.detect(
            image, body.order, min_score=body.min_score))
        return {"faces": [face_json(f) for f in faces], "detector": ctx.faces.backend().name}

    def swap_inputs(body: SwapBody) -> tuple[Any, Image.Image, Optional[Image.Image]]:
        if body.source_image is not None and body.face_model is not None:
            raise ValueError("give exactly one of source_image or face_model, not both")
        if body.source_image is None and body.face_model is None and ctx.faces.needs_source(body.method):
            raise ValueError("give exactly one of source_image or face_model (a 'trained model: <name>' method "
                             "needs neither)")
        budget = ctx.engine.limits.input_budget()
        source = (decode_image(body.source_image, "source_image", budget) if body.source_image is not None
                  else ctx.faces.load_face_model(body.face_model) if body.face_model is not None else None)
        target = decode_image(body.target_image, "target_image", budget)
        reference = decode_image(body.reference_image, "reference_image", budget) if body.reference_image else None
        return source, target, reference

    @router.post("/faces/swap")
    async def faces_swap(body: SwapBody) -> dict:
        source, target, reference = await run_in_threadpool(swap_inputs, body)
        mask = MaskOptions(erosion=body.mask_erosion, blur=body.mask_blur, opacity=body.opacity)
        result = await run_queued(ctx.queue, "faces-swap", lambda control: ctx.faces.swap(
            source, target, body.source_face_index,
            selected_targets(body.face_selector_mode or "indices", body.target_face_indices, reference is not None),
            body.method, reference=reference,
            save=body.save_images, threshold=body.threshold, gender=body.gender, mask=mask, blend=body.blend,
            restore=body.restore, restore_weight=body.restore_weight, order=body.order))
        image = await run_in_threadpool(encode_png_base64, result.image, result.info)
        return {"image": image, "info": result.info, "method": result.method, "swapped": result.swapped}

    return router
