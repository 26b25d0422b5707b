"""Tiny random-weight ONNX face models with the real I/O signatures, in ReActor's folder layout.

They run through insightface's own loading and inference code (model_zoo routing by shapes,
SCRFD decoding, Landmark / Attribute / ArcFace crops, INSwapper with ``emap`` as the last
initializer). The detector fires on bright squares at stride 32, so a test image decides where
the "faces" are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 13)]


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, np.float32), name)


def build_scrfd(path: Path) -> Path:
    """det_10g-like: input [1,3,?,?]; 9 outputs (scores, boxes, kps for strides 8/16/32), 2 anchors."""
    nodes, inits, outputs = [], [], []
    for kind, channels in (("score", 1), ("bbox", 4), ("kps", 10)):
        for stride in (8, 16, 32):
            name = f"{kind}_{stride}"
            weight = np.zeros((2 * channels, 3, 1, 1), np.float32)
            bias = np.zeros(2 * channels, np.float32)
            if kind == "score":
                weight[:, 0] = 12.0  # bright cells score high...
                bias[:] = -6.0 if stride == 32 else -60.0  # ...at stride 32 only
            elif kind == "bbox":
                bias[:] = 3.0  # boxes reach 3 strides from the anchor
            else:
                bias[:] = np.tile([-0.7, -0.4, 0.7, -0.4, 0.0, 0.2, -0.5, 0.9, 0.5, 0.9], 2)
            inits += [_init(f"{name}_w", weight), _init(f"{name}_b", bias),
                      numpy_helper.from_array(np.array([-1, channels], np.int64), f"{name}_shape")]
            nodes += [
                helper.make_node("AveragePool", ["input.1"], [f"{name}_pool"], kernel_shape=[stride, stride],
                                 strides=[stride, stride]),
                helper.make_node("Conv", [f"{name}_pool", f"{name}_w", f"{name}_b"], [f"{name}_conv"]),
                helper.make_node("Transpose", [f"{name}_conv"], [f"{name}_t"], perm=[0, 2, 3, 1]),
                helper.make_node("Reshape", [f"{name}_t", f"{name}_shape"],
                                 [f"{name}_raw" if kind == "score" else name]),
            ]
            if kind == "score":
                nodes.append(helper.make_node("Sigmoid", [f"{name}_raw"], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", channels]))
    graph = helper.make_graph(nodes, "scrfd", [helper.make_tensor_value_info("input.1", TensorProto.FLOAT,
                                                                            [1, 3, "h", "w"])], outputs, inits)
    return _save(graph, path)


def _head(path: Path, size: int, out: int, seed: int, final: str | None, name: str = "input.1") -> Path:
    """input [1,3,size,size] → 4x4 average grid → Gemm → [1,out] (+ an optional activation)."""
    rng = np.random.default_rng(seed)
    cell = size // 4
    nodes = [helper.make_node("AveragePool", [name], ["pool"], kernel_shape=[cell, cell], strides=[cell, cell]),
             helper.make_node("Flatten", ["pool"], ["flat"]),
             helper.make_node("Gemm", ["flat", "w", "b"], ["gemm" if final else "output"], transB=1)]
    if final:
        nodes.append(helper.make_node(final, ["gemm"], ["output"]))
    inits = [_init("w", rng.normal(0, 0.3, (out, 48))), _init("b", np.zeros(out))]
    graph = helper.make_graph(nodes, path.stem, [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, out])], inits)
    return _save(graph, path)


def build_inswapper(path: Path, seed: int = 3) -> Path:
    """inswapper_128-like: target [1,3,128,128] (0..1) + source [1,512] → [1,3,128,128]; ``emap`` last initializer."""
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Gemm", ["source", "w", "b"], ["colour"], transB=1),
             helper.make_node("Tanh", ["colour"], ["shift"]),
             helper.make_node("Reshape", ["shift", "shape"], ["shift4"]),
             helper.make_node("Mul", ["target", "half"], ["dim"]),
             helper.make_node("Add", ["dim", "shift4"], ["mixed"]),
             helper.make_node("Clip", ["mixed", "zero", "one"], ["output"])]
    inits = [_init("w", rng.normal(0, 1.0, (3, 512))), _init("b", np.zeros(3)),
             numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape"), _init("half", np.array(0.5)),
             _init("zero", np.array(0.0)), _init("one", np.array(1.0)),
             _init("emap", rng.normal(0, 1.0, (512, 512)))]
    graph = helper.make_graph(nodes, "inswapper", [
        helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
        helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])], inits)
    return _save(graph, path)


def build_restorer(path: Path, size: int = 512) -> Path:
    """GFPGAN-like: [1,3,S,S] in -1..1 → same shape, contrast lowered (a visible, checkable change)."""
    nodes = [helper.make_node("Mul", ["input", "k"], ["output"])]
    graph = helper.make_graph(nodes, "restorer", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])],
                              [_init("k", np.array(0.5))])
    return _save(graph, path)


def build_codeformer(path: Path, size: int = 512) -> Path:
    """CodeFormer-like: image [1,3,S,S] and the fidelity weight ``w`` (a double, as the export's)
    → the image times ``w`` (so the weight is visible in the result)."""
    nodes = [helper.make_node("Cast", ["w"], ["wf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["x", "wf"], ["y"])]
    graph = helper.make_graph(nodes, "codeformer",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size]),
                               helper.make_tensor_value_info("w", TensorProto.DOUBLE, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, size, size])])
    return _save(graph, path)


def build_face_models(models_dir: Path, pack: str = "buffalo_l", genderage: bool = True,
                      inswapper: bool = True, restorer: bool = True) -> Path:
    """ReActor's layout under ``models_dir``: the analysis pack, inswapper, a restorer."""
    folder = models_dir / "insightface" / "models" / pack
    build_scrfd(folder / "det_10g.onnx")
    _head(folder / "2d106det.onnx", 192, 212, seed=1, final="Tanh", name="data")
    if genderage:
        _head(folder / "genderage.onnx", 96, 3, seed=2, final="Sigmoid", name="data")
    _head(folder / "w600k_r50.onnx", 112, 512, seed=4, final=None)
    if inswapper:
        build_inswapper(models_dir / "insightface" / "inswapper_128.onnx")
    if restorer:
        build_restorer(models_dir / "facerestore" / "GFPGANv1.4.onnx")
    return models_dir


def bright_squares(centers: list[tuple[int, int]], size: tuple[int, int] = (640, 480), side: int = 64) -> np.ndarray:
    """A dark RGB image with a bright, textured square per "face" (what the synthetic detector finds)."""
    rng = np.random.default_rng(len(centers))
    image = np.full((size[1], size[0], 3), 10, np.uint8)
    for i, (x, y) in enumerate(centers):
        patch = rng.integers(200, 256, (side, side, 3), dtype=np.uint8)
        patch[..., i % 3] = 255
        image[y - side // 2:y + side // 2, x - side // 2:x + side // 2] = patch
    return image
