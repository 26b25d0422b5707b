"""Issue #12 item 2: one authentication for the whole app.

A real server (``launch.py``) with users from all three sources: ``--gradio-auth-path FILE``,
the ``ATELIER_AUTH`` variable and ``--gradio-auth`` on the command line (which must warn). Every
route the app has (listed from the app itself, the mounted Gradio app's included) is requested
without credentials (401, or the login page for a browser) and with them (past the gate).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.security.routes import guarded_routes
from tests.test_server import Server, running_server
from webui.middleware.auth_gate import COOKIE, UNAUTHORIZED, SessionSigner, basic_credentials, credentials_match
from webui.server import create_app

FILE_USER, FILE_PASSWORD = "ann", "file pa:ss"
ENV_USER, ENV_PASSWORD = "bob", "env-secret"
CLI_USER, CLI_PASSWORD = "cli", "on-the-command-line"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def server(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("auth-server")
    users = root / "users.txt"
    users.write_text(f"{FILE_USER}:{FILE_PASSWORD}\n\nnobody-else:x\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ATELIER_AUTH", f"{ENV_USER}:{ENV_PASSWORD}")
        with running_server(root, tiny_models_dir, "--gradio-auth-path", str(users), "--gradio-auth",
                            f"{CLI_USER}:{CLI_PASSWORD}", headers=basic(FILE_USER, FILE_PASSWORD)) as running:
            yield running


@pytest.fixture(scope="module")
def routes(ctx) -> list[tuple[str, str]]:
    """Every route of an app built as the server builds it (UI and API)."""
    found = guarded_routes(create_app(ctx, api=True, webui=True, api_auth=[("x", "y")]))
    assert {("GET", "/"), ("POST", "/gradio_api/queue/join"), ("GET", "/docs"), ("GET", "/openapi.json"),
            ("POST", "/sdapi/v1/txt2img"), ("GET", "/atelier/v1/status"), ("POST", "/gradio_api/upload"),
            ("GET", "/gradio_api/file=x")} <= set(found)
    return found


def status_of(server: Server, method: str, path: str, headers: dict[str, str]) -> int:
    """The status line only (streaming routes never end; nothing else is read)."""
    return answer_of(server, method, path, headers)[0]


def answer_of(server: Server, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """(status, body of an error answer; "" for a success, whose body may never end)."""
    with httpx.stream(method, server.base_url + path, headers=headers, timeout=30) as response:
        return response.status_code, response.read().decode(errors="replace") if response.status_code >= 400 else ""


@pytest.mark.e2e  # a real launch.py server
def test_every_route_needs_credentials(server: Server, routes: list[tuple[str, str]]) -> None:
    wrong = [{}, basic(FILE_USER, "wrong"), basic("eve", FILE_PASSWORD), {"Authorization": "Basic !!"},
             {"Authorization": "Bearer x"}, {"Cookie": f"{COOKIE}=forged.9999999999.00"}]
    let_in = []
    for method, path in routes:
        for headers in wrong:
            status = status_of(server, method, path, headers)
            if status != 401:
                let_in.append((method, path, headers, status))
    assert not let_in, let_in


@pytest.mark.e2e  # a real launch.py server
def test_every_route_opens_with_credentials(server: Server, routes: list[tuple[str, str]]) -> None:
    """Past the gate: whatever the route itself answers (a 403 of Gradio's file route is its own)."""
    refused = [(m, p, answer) for m, p in routes
               if UNAUTHORIZED in (answer := answer_of(server, m, p, basic(ENV_USER, ENV_PASSWORD)))[1]
               or "cross-site request refused" in answer[1] or answer[0] == 421]
    assert not refused, refused


@pytest.mark.e2e  # a real launch.py server
def test_401_names_how_to_authenticate(server: Server) -> None:
    status, _, body = server.request("GET", "/gradio_api/info", headers={})
    answer = json.loads(body)
    assert status == 401 and "/login" in answer["detail"] and "--api-auth" in answer["detail"]


@pytest.mark.e2e  # a real launch.py server
def test_every_source_of_users_logs_in_and_the_command_line_one_warns(server: Server) -> None:
    for user, password in ((FILE_USER, FILE_PASSWORD), (ENV_USER, ENV_PASSWORD), (CLI_USER, CLI_PASSWORD)):
        assert server.request("GET", "/sdapi/v1/sd-models", headers=basic(user, password))[0] == 200
    log = server.log_tail(200_000)
    assert "--gradio-auth puts a password on the command line" in log and "ATELIER_AUTH" in log
    assert "Authentication on for 4 user(s) on every route" in log
    for secret in (FILE_PASSWORD, ENV_PASSWORD, CLI_PASSWORD):
        assert secret not in log


@pytest.mark.e2e  # a real launch.py server
def test_cmd_flags_redact_the_command_line_password(server: Server) -> None:
    flags = json.loads(server.request("GET", "/sdapi/v1/cmd-flags")[2])
    assert flags["gradio_auth"] == "<redacted>" and CLI_PASSWORD not in json.dumps(flags)


@pytest.mark.e2e  # a real launch.py server
def test_no_route_serves_the_process_command_line(server: Server) -> None:
    for path in ("/gradio_api/file=/proc/self/cmdline", "/gradio_api/file=/proc/self/environ",
                 f"/gradio_api/file={os.getcwd()}/../../../../proc/self/cmdline"):
        status, _, body = server.request("GET", path)
        assert status == 403 and CLI_PASSWORD.encode() not in body


@pytest.mark.e2e  # a real launch.py server
def test_a_browser_is_sent_to_the_login_page_and_its_session_opens_everything(server: Server) -> None:
    page = {"Accept": "text/html,application/xhtml+xml"}
    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        first = browser.get("/docs?x=1", headers=page)
        assert first.status_code == 303 and first.headers["location"] == "/login?next=/docs%3Fx%3D1"
        form = browser.get(first.headers["location"], headers=page)
        assert form.status_code == 200 and 'name="password"' in form.text and 'value="/docs?x=1"' in form.text
        wrong = browser.post("/login", data={"username": FILE_USER, "password": "nope", "next": "/docs"},
                             headers=page)
        assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text and COOKIE not in browser.cookies
        for evil in ("//evil.example/", "https://evil.example/"):
            redirect = browser.post("/login", data={"username": FILE_USER, "password": FILE_PASSWORD, "next": evil},
                                    headers=page)
            assert redirect.status_code == 303 and redirect.headers["location"] == "/"  # no open redirect
        cookie = redirect.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        for path in ("/", "/docs", "/sdapi/v1/sd-models", "/gradio_api/info", "/atelier/v1/status"):
            assert browser.get(path).status_code == 200, path
        out = browser.get("/logout")
        assert out.status_code == 303 and browser.get("/sdapi/v1/sd-models").status_code == 401


@pytest.mark.e2e  # a real launch.py server
def test_gradio_client_logs_in_with_its_auth_argument(server: Server, tmp_path: Path) -> None:
    from gradio_client import Client

    client = Client(server.base_url + "/", auth=(ENV_USER, ENV_PASSWORD), verbose=False,
                    download_files=str(tmp_path))
    try:
        assert client.predict("a cat", 20, api_name="/txt2img_prompt_tokens").startswith("Prompt tokens: 2/75")
    finally:
        client.close()


# -- units -----------------------------------------------------------------------------------------
def test_credentials_are_compared_by_value_for_every_pair() -> None:
    allowed = [("ann", "pw1"), ("bob", "pw:2")]
    assert credentials_match("bob", "pw:2", allowed) and credentials_match("ann", "pw1", allowed)
    assert not credentials_match("ann", "pw:2", allowed) and not credentials_match("", "", allowed)
    assert basic_credentials(basic("u", "p:q")["Authorization"]) == ("u", "p:q")
    assert basic_credentials("Basic %%%") is None and basic_credentials("Digest x") is None


def test_session_tokens_expire_and_cannot_be_forged() -> None:
    signer = SessionSigner(key=b"k" * 32, lifetime_s=60)
    token = signer.issue("ann", now=1000)
    assert signer.user(token, now=1059) == "ann" and signer.user(token, now=1061) is None
    name, expires, signature = token.split(".")
    assert signer.user(f"{name}.{int(expires) + 999}.{signature}", now=1000) is None
    assert SessionSigner(key=b"x" * 32).user(token, now=1000) is None  # another process's key
    assert signer.user(None) is None and signer.user("garbage") is None
    assert signer.user(f"{name}.{expires}.é") is None and signer.user(f"{name}.²³.{signature}") is None


def test_the_login_redirect_stays_on_this_server() -> None:
    from webui.middleware.auth_gate import _safe_next

    for target in ("//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example", "", None):
        assert _safe_next(target) == "/", target
    assert _safe_next("/docs?x=1") == "/docs?x=1"

