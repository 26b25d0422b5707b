"""Face detection through ``ctx.faces`` with the built-in (dlib) backend on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.faces.errors import FaceError
from pipelines.faces.order import order_faces
from tests.faces_data import astronaut, builtin_faces, insightface_photo  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def faces(builtin_faces):  # noqa: F811
    return builtin_faces


@pytest.fixture(scope="module")
def group(faces):
    return faces.detect(insightface_photo("t1.jpg"))


def test_group_photo_faces_left_to_right_with_landmarks_inside_boxes(group) -> None:
    assert len(group) >= 5
    centers = [f.center[0] for f in group]
    assert centers == sorted(centers)
    for face in group:
        x1, y1, x2, y2 = face.box
        assert face.detector == "dlib-hog" and 0.5 <= face.score <= 1.0
        assert face.landmarks.shape == (68, 2) and face.kps5.shape == (5, 2)
        inner = face.landmarks[17:]  # brows, eyes, nose, mouth: inside the box (the jaw may leave it)
        pad = 0.1 * face.width
        assert (inner[:, 0] >= x1 - pad).all() and (inner[:, 0] <= x2 + pad).all()
        assert (inner[:, 1] >= y1 - pad).all() and (inner[:, 1] <= y2 + pad).all()
        left_eye, right_eye = face.kps5[0], face.kps5[1]
        assert left_eye[0] < right_eye[0]  # insightface order: image-left eye first
        assert face.embedding.shape == (128,) and abs(np.linalg.norm(face.embedding) - 1) < 1e-4
        assert face.embedding_model == "dlib/resnet-128"


@pytest.mark.parametrize("order, key, reverse", [
    ("left-right", lambda f: f.center[0], False), ("right-left", lambda f: f.center[0], True),
    ("top-bottom", lambda f: f.center[1], False), ("bottom-top", lambda f: f.center[1], True),
    ("small-large", lambda f: f.width * f.height, False), ("large-small", lambda f: f.width * f.height, True),
    ("best-worst", lambda f: f.score, True), ("worst-best", lambda f: f.score, False),
])
def test_facefusion_orders(group, order: str, key, reverse: bool) -> None:
    values = [key(f) for f in order_faces(group, order)]
    assert values == sorted(values, reverse=reverse) and len(set(values)) > 1


def test_older_order_names_and_unknown_ones(group) -> None:
    assert order_faces(group, "size") == order_faces(group, "large-small")
    assert order_faces(group, "score") == order_faces(group, "best-worst")
    with pytest.raises(ValueError, match="unknown face order"):
        order_faces(group, "random")


def test_distinct_people_have_distant_embeddings(group) -> None:
    sims = np.array([[a.embedding @ b.embedding for b in group] for a in group])
    off_diagonal = sims[~np.eye(len(group), dtype=bool)]
    assert np.allclose(np.diag(sims), 1, atol=1e-4) and off_diagonal.max() < 0.99


def test_single_face_photos(faces) -> None:
    found = faces.detect(astronaut())
    assert len(found) == 1
    x1, y1, x2, y2 = found[0].box
    assert 150 < (x1 + x2) / 2 < 260 and 60 < (y1 + y2) / 2 < 200  # her face, not the suit
    assert len(faces.detect(insightface_photo("Tom_Hanks_54745.png"))) == 1  # 112x112: upsampled pass


def test_no_face_and_bad_arrays(faces) -> None:
    assert faces.detect(np.full((64, 64, 3), 127, np.uint8)) == []
    with pytest.raises(FaceError, match="shape"):
        faces.detect(np.zeros((4, 4, 5), np.uint8))


def test_missing_insightface_pack_is_named(faces) -> None:
    with pytest.raises(FaceError, match=r"buffalo_l.*insightface[/\\]models"):
        faces.detect(astronaut(), backend="insightface")


def test_context_creates_the_engine_once(faces) -> None:
    assert isinstance(faces.layout.models_dir, Path)
    assert faces.backend().name == "dlib-hog"


@pytest.mark.parametrize("degrees", [45, 90])
def test_rotation_search_finds_tilted_faces_where_they_are(faces, group, degrees: int) -> None:
    """The group photo turned 45° / 90°: upright HOG finds at most 2 faces; the search finds them at their places."""
    from pipelines.faces.rotation import rotated

    photo = np.asarray(insightface_photo("t1.jpg"))
    turned, matrix = rotated(photo, degrees)
    assert len(faces.detect(turned, embed=False, rotation="off")) <= 2
    found = faces.detect(turned, rotation="all")
    expected = [matrix[:, :2] @ np.array(f.center) + matrix[:, 2] for f in group]
    near = [min(np.linalg.norm(np.array(f.center) - e) for f in found) for e in expected]
    assert sum(d < 0.3 * group[0].width for d in near) >= 5 and len(found) <= len(group)
    assert sum("rotation" in face.extra for face in found) >= 4

    def tilt(face) -> float:
        eyes = face.kps5[1] - face.kps5[0]
        return float(np.degrees(np.arctan2(-eyes[1], eyes[0])))

    for face in found:  # the eye line turned back with the face: its own tilt (up to 31° here) plus the turn
        assert face.landmarks.shape == (68, 2) and face.embedding.shape == (128,)
        nearest = min(range(len(group)), key=lambda i: np.linalg.norm(np.array(face.center) - expected[i]))
        assert abs(tilt(face) - tilt(group[nearest]) - degrees) < 15


def test_small_faces_are_found_by_upsampling(faces) -> None:
    """The group photo at a quarter size (faces ~25-40 px, under the 80 px HOG window)."""
    photo = insightface_photo("t1.jpg")
    small = photo.resize((photo.width // 4, photo.height // 4))
    assert len(faces.detect(small, embed=False)) >= 4  # upright-only at one scale: 0


def test_rotation_search_adds_no_faces_to_a_faceless_picture(faces) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    assert faces.detect(noise, rotation="all") == []
    with pytest.raises(ValueError, match="rotation search"):
        faces.detect(noise, rotation="sideways")


@pytest.mark.parametrize("degrees", [15, 45, 75])
def test_rotation_search_takes_no_suit_patch_for_a_face(faces, degrees: int) -> None:
    """The astronaut turned: the turned passes once found her suit's patch too (HOG margin 0.13-0.24)."""
    from pipelines.faces.rotation import rotated

    found = faces.detect(rotated(np.asarray(astronaut()), degrees)[0], embed=False, rotation="all")
    assert len(found) == 1
