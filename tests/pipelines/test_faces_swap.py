"""Face swap: insightface's real code on synthetic ONNX models, the classic path on real photos."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from pipelines.faces.errors import FaceError, MissingModelError, NoFaceError
from pipelines.faces.masks import MaskOptions
from pipelines.outputs import read_infotext
from tests.factory_faces import bright_squares, build_face_models
from tests.faces_data import astronaut, builtin_faces, insightface_photo, real_person  # noqa: F401 (fixture)

PAIR = [(128, 160), (448, 320)]


def _engine(make_context, models_dir: Path):
    return make_context(models_dir).faces


@pytest.fixture
def synthetic(make_context, tmp_path: Path):
    return _engine(make_context, build_face_models(tmp_path / "models"))


@pytest.fixture(scope="module")
def builtin(builtin_faces):  # noqa: F811
    return builtin_faces


# -- insightface path (synthetic models, real insightface code) ---------------------------------
def test_insightface_detect_fills_every_field(synthetic) -> None:
    faces = synthetic.detect(bright_squares(PAIR))
    assert len(faces) == 2 and faces[0].center[0] < faces[1].center[0]
    for face in faces:
        assert face.detector == "insightface/buffalo_l" and 0.5 <= face.score <= 1
        assert face.landmarks.shape == (106, 2) and face.kps5.shape == (5, 2)
        assert face.embedding.shape == (512,) and abs(np.linalg.norm(face.embedding) - 1) < 1e-4
        assert face.embedding_model == "arcface/w600k_r50"
        assert face.gender in ("M", "F") and 0 <= face.age <= 100
        x1, y1, x2, y2 = face.box
        assert (face.kps5[:, 0] > x1).all() and (face.kps5[:, 0] < x2).all()


def test_inswapper_swaps_chosen_faces_only_and_restores(synthetic) -> None:
    synthetic.writer.provenance_marks = False  # the invisible marks touch every pixel; this checks the swap's own
    target = bright_squares(PAIR)
    result = synthetic.swap(bright_squares([(320, 240)]), target, target_face_indices=[1], save=True)
    assert result.method == "inswapper" and result.swapped == [1] and "inswapper" in result.info
    out = np.asarray(result.image).astype(int)
    changed = np.abs(out - target).sum(-1) > 0
    assert changed[280:360, 410:490].any() and not changed[:, :300].any()  # face 1 only
    saved = sorted((synthetic.writer.root / "faces").rglob("*.png"))
    assert len(saved) == 1 and "Face swap: inswapper" in read_infotext(__import__("PIL.Image").Image.open(saved[0]))
    restored = synthetic.swap(bright_squares([(320, 240)]), target, target_face_indices="all",
                              restore="GFPGANv1.4.onnx", restore_weight=0.5)
    assert restored.swapped == [0, 1] and "restore GFPGANv1.4.onnx (0.5)" in restored.info


def test_prepared_source_reused_per_frame(synthetic) -> None:
    prepared = synthetic.prepare_source(bright_squares([(320, 240)]))
    frames = [bright_squares([(x, 240)]) for x in (200, 400)]
    outs = [synthetic.swap_prepared(frame, prepared) for frame in frames]
    assert all(o.swapped == [0] for o in outs)
    assert not np.array_equal(np.asarray(outs[0].image), frames[0])


def test_auto_method_and_missing_files(make_context, tmp_path: Path) -> None:
    no_swapper = _engine(make_context, build_face_models(tmp_path / "a", inswapper=False))
    assert no_swapper.resolve_method("auto") == "classic"
    with pytest.raises(MissingModelError, match=r"inswapper_128\.onnx or inswapper_128_fp16\.onnx in .*insightface"):
        no_swapper.resolve_method("inswapper")
    with pytest.raises(MissingModelError, match=r"GFPGAN.onnx.*facerestore"):
        no_swapper.swap(astronaut(), astronaut(), method="classic", restore="GFPGAN.onnx")
    with pytest.raises(FaceError, match="unknown swap method"):
        no_swapper.resolve_method("deep")


def test_gender_and_reference_filters(synthetic) -> None:
    target = bright_squares(PAIR)
    faces = synthetic.detect(target)
    other = "M" if faces[0].gender == "F" else "F"
    kept = synthetic.swap(target, target, target_face_indices="all", gender=faces[0].gender)
    assert 0 in kept.swapped
    if faces[1].gender == faces[0].gender:
        assert kept.swapped == [0, 1]
    assert synthetic.swap(target, target, target_face_indices="all", gender=other).swapped == \
        [i for i, f in enumerate(faces) if f.gender == other]
    reference = target.copy()  # only face 1 left: the same "person"
    reference[:, :300] = 10
    result = synthetic.swap(target, target, target_face_indices="all", reference=reference, threshold=1e-3)
    assert result.swapped == [1] and "face 0 skipped (distance" in result.info


def test_face_model_round_trip_as_source_and_reference(synthetic) -> None:
    images = [bright_squares([(320, 240)]), bright_squares([(300, 200)])]
    path = synthetic.save_face_model("alice", images)
    assert path.parent.name == "faces" and synthetic.face_model_names() == ["alice"]
    model = synthetic.load_face_model("alice")
    assert model.embedding.shape == (512,) and model.count == 2 and model.embedding_model == "arcface/w600k_r50"
    assert abs(np.linalg.norm(model.embedding) - 1) < 1e-5
    assert synthetic.swap(model, bright_squares(PAIR)).swapped == [0]
    with pytest.raises(FaceError, match="not found"):
        synthetic.load_face_model("bob")
    with pytest.raises(FaceError, match="name"):
        synthetic.save_face_model("../evil", images)


def test_bad_swap_input(synthetic) -> None:
    blank = np.full((200, 200, 3), 10, np.uint8)
    with pytest.raises(NoFaceError, match="source"):
        synthetic.swap(blank, bright_squares(PAIR))
    with pytest.raises(NoFaceError, match="target"):
        synthetic.swap(bright_squares(PAIR), blank)
    with pytest.raises(FaceError, match=r"Target face index 5 is out of range: the target image has 2 faces"):
        synthetic.swap(bright_squares(PAIR), bright_squares(PAIR), target_face_indices=[5])
    with pytest.raises(FaceError, match="Source face index 2"):
        synthetic.swap(bright_squares(PAIR), bright_squares(PAIR), source_face_index=2)


# -- classic path (built-in models, real photos) -------------------------------------------------
@contextlib.contextmanager
def marks_off(engine) -> Iterator[None]:
    """Swap results are stamped with invisible marks that touch every pixel; pixel-exact checks of
    the swap itself turn them off."""
    engine.writer.provenance_marks = False
    try:
        yield
    finally:
        engine.writer.provenance_marks = True


def _dlib_distance(builtin, a: np.ndarray, box_a, b: np.ndarray, box_b) -> float:
    """dlib's own scale: raw 128-d descriptors, Euclidean (the same person < 0.6)."""
    return float(np.linalg.norm(builtin.builtin.embed(a, box_a, normalise=False) -
                                builtin.builtin.embed(b, box_b, normalise=False)))


def _identity(builtin, source: np.ndarray, target: np.ndarray, result, index: int) -> tuple[float, float]:
    """(result→source, result→target) of the swapped face, as bench/faces.py measures them."""
    face = result.faces[index]
    out = np.asarray(result.image)
    again = [f for f in builtin.detect(out, embed=False) if abs(f.center[0] - face.center[0]) < face.width / 2
             and abs(f.center[1] - face.center[1]) < face.width / 2]
    assert again, "the swapped face is still a face the detector finds"
    src = max(builtin.detect(source, embed=False), key=lambda f: f.width)
    return (_dlib_distance(builtin, out, again[0].box, source, src.box),
            _dlib_distance(builtin, out, again[0].box, target, face.box))


@pytest.mark.parametrize("blend", ["multiband", "poisson", "alpha"])
def test_classic_swap_transfers_identity_and_leaves_the_rest(builtin, blend: str) -> None:
    """The astronaut's whole face goes onto face 1 of the group photo: dlib then reads her, not him."""
    target = insightface_photo("t1.jpg")
    with marks_off(builtin):
        result = builtin.swap(astronaut(), target, target_face_indices=[1], blend=blend)
    assert result.method == "classic" and result.swapped == [1] and f"blend {blend}" in result.info
    out = np.asarray(result.image).astype(int)
    before = np.asarray(target).astype(int)
    assert out.shape == before.shape
    to_source, to_target = _identity(builtin, np.asarray(astronaut()), np.asarray(target), result, 1)
    assert to_source < 0.6 and to_source < to_target
    face = result.faces[1]
    x1, y1, x2, y2 = (int(v) for v in face.box)
    far = np.ones(out.shape[:2], bool)  # the outline's warp fades out on a ring about 1.5 faces wide
    pad = int(face.width * 1.2)
    far[max(y1 - pad, 0):y2 + pad, max(x1 - pad, 0):x2 + pad] = False
    assert np.array_equal(out[far], before[far])


def test_classic_swap_between_two_real_people(builtin) -> None:
    """Obama onto Biden: the result is within dlib's 0.6 of Obama in a photo the swap never saw."""
    obama, biden, held_out = (np.asarray(real_person(n)) for n in ("obama.jpg", "biden.jpg", "obama3.jpg"))
    result = builtin.swap(obama, biden)
    to_source, to_target = _identity(builtin, obama, biden, result, 0)
    assert to_source < 0.6 and to_target > 0.6
    again = max(builtin.detect(np.asarray(result.image), embed=False), key=lambda f: f.width)
    other = max(builtin.detect(held_out, embed=False), key=lambda f: f.width)
    assert _dlib_distance(builtin, np.asarray(result.image), again.box, held_out, other.box) < 0.6


def test_mirror_order_is_a_dlib68_mirror() -> None:
    from pipelines.faces.classic import MIRROR

    assert sorted(MIRROR) == list(range(68)) and (MIRROR[MIRROR] == np.arange(68)).all()
    assert MIRROR[36] == 45 and MIRROR[0] == 16 and MIRROR[30] == 30 and MIRROR[48] == 54


def test_classic_opacity_zero_is_the_target(builtin) -> None:
    target = astronaut()
    with marks_off(builtin):
        result = builtin.swap(insightface_photo("t1.jpg"), target, source_face_index=2, mask=MaskOptions(opacity=0.0))
    assert np.array_equal(np.asarray(result.image), np.asarray(target))


def test_builtin_face_model_cannot_drive_classic(builtin) -> None:
    builtin.save_face_model("tom", [insightface_photo("Tom_Hanks_54745.png")])
    model = builtin.load_face_model("tom")
    assert model.embedding_model == "dlib/resnet-128"
    with pytest.raises(FaceError, match="needs the inswapper method"):
        builtin.swap(model, astronaut())
    # ... but it works as a reference identity: the astronaut is not Tom Hanks.
    result = builtin.swap(insightface_photo("t1.jpg"), astronaut(), reference=model, threshold=0.01)
    assert result.swapped == [] and "skipped" in result.info
    with pytest.raises(FaceError, match="gender/age model"):
        builtin.swap(insightface_photo("t1.jpg"), astronaut(), gender="F")


def test_reference_face_picks_one_of_two_real_people(builtin) -> None:
    """Obama and Biden side by side, an other photo of Obama as the reference: only Obama is
    swapped with the dlib model's own threshold (one cosine number for every model swapped both)."""
    from PIL import Image

    from pipelines.faces.swap import REFERENCE_THRESHOLDS, distance

    obama, biden = (real_person(n).resize((300, int(300 * real_person(n).height / real_person(n).width)))
                    for n in ("obama2.jpg", "biden.jpg"))
    pair = Image.new("RGB", (600, max(obama.height, biden.height)))
    pair.paste(obama, (0, 0))
    pair.paste(biden, (300, 0))
    reference = real_person("obama.jpg")
    faces = builtin.detect(pair)
    identity = builtin.reference_embedding(reference)
    assert len(faces) == 2 and faces[0].embedding_model == "dlib/resnet-128"
    same, other = (distance(f.embedding, identity) for f in faces)
    assert same < REFERENCE_THRESHOLDS["dlib"] < other < REFERENCE_THRESHOLDS["arcface"]
    result = builtin.swap(astronaut(), pair, target_face_indices="all", reference=reference)
    assert result.swapped == [0] and "face 1 skipped (distance" in result.info
    assert builtin.swap(astronaut(), pair, target_face_indices="all", reference=reference, threshold=0.6).swapped == [0, 1]
