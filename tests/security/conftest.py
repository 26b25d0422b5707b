"""Fixtures of the attack reproductions: an API app over the module's context (``ctx``, from
the root conftest: tiny random-weight models)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pipelines.context import AtelierContext
from webui.server import create_app


@pytest.fixture(scope="module")
def client(ctx: AtelierContext) -> TestClient:
    """HTTP to an API-only app (``--api --nowebui``) over ``ctx``."""
    return TestClient(create_app(ctx, api=True, webui=False))
