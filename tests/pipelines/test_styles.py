"""styles.csv: A1111's apply / extract rules, editing, atomic saves and malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.styles import (
    PromptStyle,
    StyleDatabase,
    apply_styles_to_prompt,
    extract_style_text_from_prompt,
    merge_prompts,
    parse_styles_csv,
)


def test_merge_follows_a1111() -> None:
    assert merge_prompts("masterpiece", "a cat") == "a cat, masterpiece"
    assert merge_prompts("best, {prompt}, sharp", "a cat") == "best, a cat, sharp"
    assert merge_prompts("  masterpiece ", "  ") == "masterpiece"
    assert merge_prompts("", "a cat ") == "a cat"
    assert merge_prompts("{prompt} and {prompt}", "x") == "x and x"
    assert apply_styles_to_prompt("a cat", ["{prompt}, oil", "dark"]) == "a cat, oil, dark"


def test_extract_style_text() -> None:
    greg = "1girl, art by greg"
    assert extract_style_text_from_prompt("masterpiece", f"{greg}, masterpiece") == (True, greg)
    assert extract_style_text_from_prompt("masterpiece, {prompt}", f"masterpiece, {greg}") == (True, greg)
    assert extract_style_text_from_prompt("masterpiece, {prompt}", "exquisite, 1girl") == (False, "exquisite, 1girl")


def test_round_trip(tmp_path: Path) -> None:
    db = StyleDatabase.in_data_dir(tmp_path)
    assert db.names() == [] and db.errors == []
    db.create_from_prompt("Oil", "{prompt}, oil painting, \"thick\" paint", "photo, blurry")
    db.create_from_prompt("Dark", "dark, moody", "")
    db.save_style(PromptStyle("Multi", "line one\nline two", "a, b"))
    again = StyleDatabase(tmp_path / "styles.csv")
    assert again.styles == db.styles
    assert again.names() == ["Oil", "Dark", "Multi"]
    raw = (tmp_path / "styles.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfname,prompt,negative_prompt\r\n")  # utf-8-sig, as A1111 writes it

    prompt, negative = again.apply("a cat", "ugly", ["Oil", "Dark", "Missing"])
    assert prompt == 'a cat, oil painting, "thick" paint, dark, moody'
    assert negative == "ugly, photo, blurry"
    assert again.missing(["Oil", "Missing"]) == ["Missing"]

    assert again.delete("Dark") and not again.delete("Dark")
    assert StyleDatabase(tmp_path / "styles.csv").names() == ["Oil", "Multi"]
    assert (tmp_path / "styles.csv.bak").is_file()
    with pytest.raises(ValueError):
        again.save_style(PromptStyle("  "))


def test_extract_styles_from_prompt(tmp_path: Path) -> None:
    db = StyleDatabase(tmp_path / "styles.csv")
    db.create_from_prompt("Oil", "{prompt}, oil painting", "photo")
    db.create_from_prompt("Dark", "dark, moody", "bright")
    prompt, negative = db.apply("a cat", "ugly", ["Oil", "Dark"])
    assert db.extract_styles_from_prompt(prompt, negative) == (["Oil", "Dark"], "a cat", "ugly")
    assert db.extract_styles_from_prompt("a dog", "") == ([], "a dog", "")


def test_malformed_rows_are_skipped(tmp_path: Path) -> None:
    text = (
        "name,prompt,negative_prompt\n"
        "Good,\"a, b\",c\n"
        "# Divider,,\n"
        ",orphan prompt,\n"
        "Short\n"
        "Extra,p,n,unexpected,cells\n"
        "\"Broken,quote\n"
    )
    (tmp_path / "styles.csv").write_text(text, encoding="utf-8")
    db = StyleDatabase(tmp_path / "styles.csv")
    assert db.get("Good") == PromptStyle("Good", "a, b", "c")
    assert db.get("Short") == PromptStyle("Short", "", "")
    assert db.get("Extra") == PromptStyle("Extra", "p", "n")
    assert "# Divider" not in db.names()
    assert any("without a name" in e for e in db.errors)


def test_old_header_and_bad_files(tmp_path: Path) -> None:
    styles, errors = parse_styles_csv("name,text\nOld,old style\n")
    assert styles == {"Old": PromptStyle("Old", "old style", "")} and errors == []
    styles, errors = parse_styles_csv("prompt,negative_prompt\nx,y\n")
    assert styles == {} and "name" in errors[0]
    assert parse_styles_csv("") == ({}, [])
    (tmp_path / "styles.csv").write_bytes(b"name,prompt\nA,\x00nul\nB,fine\n")
    db = StyleDatabase(tmp_path / "styles.csv")
    assert db.get("B") == PromptStyle("B", "fine", "")
