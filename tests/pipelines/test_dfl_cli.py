"""The user's command-line path: ``python launch.py faceset … / train-face … / merge …`` (in-process,
already in the venv) on two short clips of real people, and its one-line messages for mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.dfl_clips import write_clip
from tests.video_factory import probe_streams, write_video

pytestmark = pytest.mark.e2e  # video encoding and decoding


def test_faceset_train_merge_commands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import launch

    common = ["--data-dir", str(tmp_path / "data"), "--models-dir", str(tmp_path / "models"), "--skip-install",
              "--threads", "1"]

    def run(*argv: str) -> str:
        assert launch.main([*argv, *common]) == 0, capsys.readouterr()
        return capsys.readouterr().out

    assert "src: 9 frames at 12 fps" in run("faceset", "w", "frames", "src",
                                           str(write_clip(tmp_path / "a.mp4", "astronaut", frames=9)))
    assert "with audio" in run("faceset", "w", "frames", "dst", str(write_clip(tmp_path / "h.mp4", "hopper", frames=9)))
    assert "src: 9 faces from 9 frames" in run("faceset", "w", "extract", "src", "--size", "64")
    assert "dst: 9 faces" in run("faceset", "w", "extract", "dst", "--size", "64", "--face-type", "full")
    assert "sorted by blur" in run("faceset", "w", "sort", "src", "--by", "blur")
    assert "packed" in run("faceset", "w", "pack", "src")
    info = json.loads(run("faceset", "w", "info"))
    assert info["src"] == {"frames": 9, "aligned": 9, "packed": True} and info["dst"]["aligned"] == 9
    tiny = ["--resolution", "32", "--ae-dims", "32", "--e-dims", "8", "--d-dims", "8", "--d-mask-dims", "4",
            "--batch-size", "2"]
    out = run("train-face", "w", "--model", "m", *tiny, "--iterations", "3")
    assert json.loads(out.strip().splitlines()[-1])["iteration"] == 3
    out = run("train-face", "w", "--model", "m", "--iterations", "5")  # resume
    assert "resuming" in out and json.loads(out.strip().splitlines()[-1])["iteration"] == 5
    assert (tmp_path / "models" / "dfl" / "m" / "model.safetensors").is_file()
    assert "preview" in run("merge", "w", "--model", "m", "--preview-frame", "2", "--preview-out",
                            str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").is_file()
    report = json.loads(run("merge", "w", "--model", "m", "--mask-mode", "combined", "--colour", "mkl").splitlines()[-1])
    streams = probe_streams(Path(report["video"]))
    assert streams["frames"] == 9 and streams["audio_codec"] == "aac"
    assert "cleared" in run("faceset", "w", "clear", "--yes")


@pytest.mark.parametrize("argv, message", [
    (["faceset", "w", "clear"], "confirm to go on"),
    (["faceset", "w", "extract", "src"], "no src frames yet: extract frames first"),
    (["train-face", "w", "--model", "m"], "the src faceset is empty"),
    (["merge", "w", "--model", "nope"], "no trained face model"),
    (["faceset", "../x", "info"], "not a path"),
])
def test_mistakes_are_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str],
                                               message: str) -> None:
    import launch

    code = launch.main([*argv, "--data-dir", str(tmp_path / "d"), "--models-dir", str(tmp_path / "m"),
                        "--skip-install"])
    out = capsys.readouterr().out
    assert code == 2 and message in out and "Traceback" not in out


def test_a_video_without_faces_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import launch

    common = ["--data-dir", str(tmp_path / "d"), "--models-dir", str(tmp_path / "m"), "--skip-install"]
    assert launch.main(["faceset", "w", "frames", "src", str(write_video(tmp_path / "v.mp4", frames=3)), *common]) == 0
    assert launch.main(["faceset", "w", "extract", "src", *common]) == 2
    assert "no faces found in any of the 3 src frames" in capsys.readouterr().out
