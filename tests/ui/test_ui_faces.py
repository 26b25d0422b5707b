"""Faces tab actions (plain functions) on the built-in backend and real photos."""

from __future__ import annotations

import pytest

from webui.ui.faces import actions
from tests.faces_data import astronaut, insightface_photo
from webui.errors import UserError


@pytest.fixture
def ctx(make_context, tmp_path):
    return make_context(tmp_path / "models")


def test_notice_shown_once_per_data_dir(ctx, make_context, tmp_path) -> None:
    assert actions.notice_needed(ctx)
    with pytest.raises(UserError, match="responsible-use notice"):
        actions.swap_image(ctx, astronaut(), actions.NO_FACE_MODEL, astronaut(), 0, "0", "auto", None, 0.6, "any",
                           0.02, 0.08, 1.0, "poisson", actions.NO_FACE_MODEL, 1.0)
    actions.acknowledge_notice(ctx)
    assert not actions.notice_needed(ctx)
    assert ctx.settings_store.path.is_file() and "faces_notice_acknowledged" in ctx.settings_store.path.read_text()


def test_detect_draws_and_tabulates(ctx) -> None:
    photo = insightface_photo("t1.jpg")
    drawn, rows = actions.detect_faces(ctx, photo, "left-right")
    assert drawn.size == photo.size and drawn.tobytes() != photo.tobytes()
    assert len(rows) >= 5 and [r[0] for r in rows] == list(range(len(rows)))
    with pytest.raises(UserError, match="Upload an image"):
        actions.detect_faces(ctx, None, "left-right")


def test_swap_saves_and_reports(ctx) -> None:
    actions.acknowledge_notice(ctx)
    image, info = actions.swap_image(ctx, insightface_photo("t1.jpg"), actions.NO_FACE_MODEL, astronaut(), 3, "0",
                                     "auto", None, 0.6, "any", 0.02, 0.08, 1.0, "poisson", actions.NO_FACE_MODEL, 1.0)
    assert image.size == (512, 512) and "classic" in info and "saved" in info
    assert len(list((ctx.outputs_dir / "faces").rglob("*.png"))) == 1
    with pytest.raises(UserError, match="out of range"):
        actions.swap_image(ctx, astronaut(), actions.NO_FACE_MODEL, astronaut(), 0, "4", "auto", None, 0.6, "any",
                           0.02, 0.08, 1.0, "poisson", actions.NO_FACE_MODEL, 1.0)
    with pytest.raises(UserError, match="Face indices"):
        actions.parse_indices("one")
    assert actions.parse_indices(" all ") == "all" and actions.parse_indices("0, 2") == [0, 2]


def test_face_model_saved_and_listed(ctx) -> None:
    text = actions.save_face_model(ctx, "tom", [insightface_photo("Tom_Hanks_54745.png")])
    assert "Saved face model tom" in text and actions.face_model_choices(ctx) == [actions.NO_FACE_MODEL, "tom"]
    with pytest.raises(UserError, match="No face found"):
        actions.save_face_model(ctx, "blank", [astronaut().resize((40, 40))])


def test_swap_tab_selector_and_order(ctx) -> None:
    """'one' with large-small swaps the biggest face of the group photo; 'reference' needs a reference."""
    actions.acknowledge_notice(ctx)
    common = (0, "all", "auto", None, 0.0, "any", 0.02, 0.08, 1.0, "multiband", actions.NO_FACE_MODEL, 1.0)
    _, info = actions.swap_image(ctx, astronaut(), actions.NO_FACE_MODEL, insightface_photo("t1.jpg"), *common,
                                 "large-small", "one")
    assert "target faces 0," in info
    with pytest.raises(UserError, match="needs a reference face"):
        actions.swap_image(ctx, astronaut(), actions.NO_FACE_MODEL, insightface_photo("t1.jpg"), *common,
                           "left-right", "reference")
