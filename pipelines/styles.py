"""Prompt styles in A1111's ``styles.csv`` (``name,prompt,negative_prompt``).

Applying a style (A1111 ``apply_styles_to_prompt``): a style text containing ``{prompt}`` has it
replaced by the user's prompt; otherwise the style is appended after ``", "``. Styles apply in
order. "Extract styles" is the inverse: it finds the styles whose text a prompt ends with (or
wraps it, for ``{prompt}`` styles) and removes them. A malformed row is skipped and reported;
saving is atomic and keeps the previous file as ``styles.csv.bak`` (as A1111 does).
"""

from __future__ import annotations

import csv
import io
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

from pipelines.fileio import atomic_write_text

STYLES_FILE = "styles.csv"
FIELDS = ("name", "prompt", "negative_prompt")
PROMPT_PLACEHOLDER = "{prompt}"


@dataclass(frozen=True)
class PromptStyle:
    name: str
    prompt: str = ""
    negative_prompt: str = ""


def merge_prompts(style_prompt: str, prompt: str) -> str:
    """One style applied to ``prompt`` (A1111 ``merge_prompts``)."""
    if PROMPT_PLACEHOLDER in style_prompt:
        return style_prompt.replace(PROMPT_PLACEHOLDER, prompt)
    return ", ".join(part for part in (prompt.strip(), style_prompt.strip()) if part)


def apply_styles_to_prompt(prompt: str, style_prompts: Iterable[str]) -> str:
    """Apply style texts to ``prompt`` in order."""
    for style_prompt in style_prompts:
        prompt = merge_prompts(style_prompt, prompt)
    return prompt


def extract_style_text_from_prompt(style_text: str, prompt: str) -> tuple[bool, str]:
    """``(True, prompt without the style)`` when ``prompt`` carries ``style_text``, else
    ``(False, prompt)``; e.g. ``("masterpiece", "1girl, masterpiece")`` → ``(True, "1girl")``."""
    stripped_prompt = prompt.strip()
    stripped_style = style_text.strip()
    if PROMPT_PLACEHOLDER in stripped_style:
        left, _, right = stripped_style.partition(PROMPT_PLACEHOLDER)
        if stripped_prompt.startswith(left) and stripped_prompt.endswith(right):
            return True, stripped_prompt[len(left):len(stripped_prompt) - len(right)]
    elif stripped_prompt.endswith(stripped_style):
        rest = stripped_prompt[:len(stripped_prompt) - len(stripped_style)]
        return True, rest[:-2] if rest.endswith(", ") else rest
    return False, prompt


def extract_original_prompts(style: PromptStyle, prompt: str, negative_prompt: str) -> tuple[bool, str, str]:
    """Remove ``style`` from both prompts when both carry it (A1111 ``extract_original_prompts``)."""
    if not style.prompt and not style.negative_prompt:
        return False, prompt, negative_prompt
    positive_match, positive = extract_style_text_from_prompt(style.prompt, prompt)
    if not positive_match:
        return False, prompt, negative_prompt
    negative_match, negative = extract_style_text_from_prompt(style.negative_prompt, negative_prompt)
    if not negative_match:
        return False, prompt, negative_prompt
    return True, positive, negative


def parse_styles_csv(text: str) -> tuple[dict[str, PromptStyle], list[str]]:
    """Styles from CSV text plus one error line per row that was skipped.

    Rows whose name starts with ``#`` are dividers (skipped silently, as in A1111); the old
    ``name,text`` header is accepted; missing cells read as empty.
    """
    styles: dict[str, PromptStyle] = {}
    errors: list[str] = []
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), skipinitialspace=True)
    if reader.fieldnames is None:
        return styles, errors
    if "name" not in reader.fieldnames:
        return styles, [f"no 'name' column in the header {reader.fieldnames!r}"]
    prompt_field = "prompt" if "prompt" in reader.fieldnames else "text"
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"line {reader.line_num}: {exc}")
            continue
        name = (row.get("name") or "").strip()
        if not name:
            if any(value for key, value in row.items() if key is not None):
                errors.append(f"line {reader.line_num}: a style without a name")
            continue
        if name.startswith("#"):
            continue
        styles[name] = PromptStyle(name, row.get(prompt_field) or "", row.get("negative_prompt") or "")
    return styles, errors


def format_styles_csv(styles: Iterable[PromptStyle]) -> str:
    """CSV text in A1111's layout (header, then one row per style; BOM like A1111's utf-8-sig)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for style in styles:
        writer.writerow((style.name, style.prompt, style.negative_prompt))
    return "\ufeff" + out.getvalue()


class StyleDatabase:
    """The styles of one ``styles.csv``; every change is saved at once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.errors: list[str] = []
        self._styles: dict[str, PromptStyle] = {}
        self._lock = threading.RLock()
        self.reload()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> "StyleDatabase":
        return cls(Path(data_dir) / STYLES_FILE)

    def reload(self) -> None:
        """Read the file again (a missing file is an empty style list)."""
        read_error: Optional[str] = None
        try:
            text = self.path.read_text(encoding="utf-8-sig", errors="replace")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            text, read_error = "", f"cannot read {self.path}: {exc}"
        styles, errors = parse_styles_csv(text)
        with self._lock:
            self._styles = styles
            self.errors = [read_error] if read_error else [f"{self.path.name}: {e}" for e in errors]

    @property
    def styles(self) -> dict[str, PromptStyle]:
        with self._lock:
            return dict(self._styles)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._styles)

    def get(self, name: str) -> Optional[PromptStyle]:
        with self._lock:
            return self._styles.get(name)

    def missing(self, names: Sequence[str]) -> list[str]:
        """Names that are not styles (A1111 ignores them; callers may warn)."""
        with self._lock:
            return [n for n in names if n not in self._styles]

    # -- applying -----------------------------------------------------------------------------
    def apply_styles_to_prompt(self, prompt: str, names: Sequence[str]) -> str:
        styles = [self.get(n) for n in names]
        return apply_styles_to_prompt(prompt, [s.prompt for s in styles if s is not None])

    def apply_negative_styles_to_prompt(self, negative_prompt: str, names: Sequence[str]) -> str:
        styles = [self.get(n) for n in names]
        return apply_styles_to_prompt(negative_prompt, [s.negative_prompt for s in styles if s is not None])

    def apply(self, prompt: str, negative_prompt: str, names: Sequence[str]) -> tuple[str, str]:
        """Both prompts with the named styles applied (unknown names are ignored, as in A1111)."""
        return self.apply_styles_to_prompt(prompt, names), self.apply_negative_styles_to_prompt(negative_prompt, names)

    def extract_styles_from_prompt(self, prompt: str, negative_prompt: str) -> tuple[list[str], str, str]:
        """The styles found in the prompts (in application order) and the prompts without them."""
        extracted: list[str] = []
        candidates = list(self.styles.values())
        while True:
            for style in candidates:
                matched, new_prompt, new_negative = extract_original_prompts(style, prompt, negative_prompt)
                if matched:
                    prompt, negative_prompt = new_prompt, new_negative
                    candidates.remove(style)
                    extracted.append(style.name)
                    break
            else:
                break
        return list(reversed(extracted)), prompt, negative_prompt

    # -- editing ------------------------------------------------------------------------------
    def save_style(self, style: PromptStyle) -> PromptStyle:
        """Create or replace a style and save the file."""
        name = style.name.strip()
        if not name:
            raise ValueError("a style needs a name")
        style = PromptStyle(name, style.prompt, style.negative_prompt)
        with self._lock:
            self._styles[name] = style
            self.save()
        return style

    def create_from_prompt(self, name: str, prompt: str, negative_prompt: str = "") -> PromptStyle:
        """A1111's "save style": the current prompts become the style ``name``."""
        return self.save_style(PromptStyle(name, prompt, negative_prompt))

    def delete(self, name: str) -> bool:
        """Delete a style; False when there was none of that name."""
        with self._lock:
            if self._styles.pop(name, None) is None:
                return False
            self.save()
            return True

    def save(self) -> None:
        """Write the file atomically, keeping the previous one as ``<file>.bak``."""
        with self._lock:
            text = format_styles_csv(self._styles.values())
            if self.path.is_file():
                shutil.copyfile(self.path, self.path.with_name(self.path.name + ".bak"))
            atomic_write_text(self.path, text)
