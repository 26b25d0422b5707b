"""How the attack tests read the server's answer to a refused request."""

from __future__ import annotations

from typing import Any


def refused(response: Any, status: int, *words: str) -> str:
    """Assert a clean JSON error with ``status`` whose message holds every one of ``words``."""
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail
    return detail
