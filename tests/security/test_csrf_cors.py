"""Issue #12 item 4: a web page elsewhere (another site, another port on localhost, a DNS-rebound
name) must not change anything, install extensions included; CORS never echoes an arbitrary
origin with credentials. In-process apps built by ``create_app``, each request as a browser
sends it (``Origin`` / ``Referer``), with valid credentials (a logged-in victim)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.security.gradio_calls import call, default_inputs, gradio_blocks
from tests.security.routes import guarded_routes, state_changing
from webui.extensions.host import ExtensionHost
from webui.extensions.state import ExtensionState
from webui.middleware.origin_guard import LOOPBACK_HOSTS, OriginPolicy
from webui.server import create_app

BASE = "http://127.0.0.1:7860"
EVIL = "http://evil.example"
LOCAL_OTHER_PORT = "http://127.0.0.1:3000"
FRIEND = "https://friend.example"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"ann:pw").decode()}
EXAMPLE = Path(__file__).parents[1] / "extension_example" / "hello"


@pytest.fixture(scope="module")
def host(ctx, tmp_path_factory: pytest.TempPathFactory) -> ExtensionHost:
    """The built-ins plus an empty user folder, as ``launch.py`` sets it up (installs allowed)."""
    root = tmp_path_factory.mktemp("user-extensions")
    extension_host = ExtensionHost(root, ExtensionState(root.parent / "extensions.json"), ctx)
    extension_host.load()
    return extension_host


@pytest.fixture(scope="module")
def app(ctx, host: ExtensionHost):
    return create_app(ctx, api=True, webui=True, api_auth=[("ann", "pw")], extensions=host,
                      origins=OriginPolicy(allowed_origins=(FRIEND,), trusted_hosts=LOOPBACK_HOSTS))


@pytest.fixture(scope="module")
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client


def test_every_state_changing_route_refuses_other_origins(app, client: TestClient) -> None:
    routes = state_changing(guarded_routes(app))
    assert ("POST", "/gradio_api/queue/join") in routes and ("POST", "/sdapi/v1/options") in routes
    passed = []
    for method, path in routes:
        for headers in ({"Origin": EVIL}, {"Origin": LOCAL_OTHER_PORT}, {"Origin": "null"},
                        {"Referer": f"{EVIL}/page.html"}):
            answer = client.request(method, path, headers={**AUTH, **headers})
            if answer.status_code != 403 or "cross-site request refused" not in answer.text:
                passed.append((method, path, headers, answer.status_code))
    assert not passed, passed


def test_same_origin_allowed_origin_and_non_browser_clients_pass(client: TestClient) -> None:
    for headers in ({"Origin": BASE}, {"Referer": f"{BASE}/?tab=txt2img"}, {"Origin": FRIEND}, {}):
        answer = client.post("/sdapi/v1/options", json={}, headers={**AUTH, **headers})
        assert answer.status_code == 200, (headers, answer.text)
    assert client.get("/sdapi/v1/options", headers={**AUTH, "Origin": EVIL}).status_code == 200  # reads are CORS's


def test_a_rebound_host_name_is_refused_on_a_loopback_server(client: TestClient) -> None:
    for host_header in ("evil.example:7860", "attacker.example"):
        answer = client.get("/sdapi/v1/options", headers={**AUTH, "Host": host_header})
        assert answer.status_code == 421 and "DNS rebinding" in answer.text
    for host_header in ("localhost:7860", "127.0.0.1:7860", "[::1]:7860"):
        assert client.get("/sdapi/v1/options", headers={**AUTH, "Host": host_header}).status_code == 200


def test_cors_answers_only_the_allowed_origin(client: TestClient) -> None:
    evil = client.get("/sdapi/v1/options", headers={**AUTH, "Origin": EVIL})
    assert "access-control-allow-origin" not in evil.headers  # the browser withholds the answer from the page
    preflight = client.options("/gradio_api/queue/join", headers={"Origin": LOCAL_OTHER_PORT,
                                                                  "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers
    friend = client.options("/sdapi/v1/txt2img", headers={"Origin": FRIEND, "Access-Control-Request-Method": "POST",
                                                          "Access-Control-Request-Headers": "authorization"})
    assert friend.status_code == 200 and friend.headers["access-control-allow-origin"] == FRIEND
    assert friend.headers["access-control-allow-credentials"] == "true"


def test_wildcard_and_regex_policies(ctx) -> None:
    anyone = create_app(ctx, api=True, webui=False, origins=OriginPolicy(allowed_origins=("*",)))
    with TestClient(anyone, base_url=BASE) as open_client:
        read = open_client.get("/sdapi/v1/samplers", headers={"Origin": EVIL, "Cookie": "a=b"})
        assert read.headers["access-control-allow-origin"] == "*" and "access-control-allow-credentials" not in read.headers
        assert open_client.post("/sdapi/v1/skip", headers={"Origin": EVIL}).status_code == 403  # '*' is for reading
    pattern = create_app(ctx, api=True, webui=False, origins=OriginPolicy(allowed_origin_regex=r"https://.*\.friend\.example"))
    with TestClient(pattern, base_url=BASE) as regex_client:
        assert regex_client.post("/sdapi/v1/skip", headers={"Origin": "https://a.friend.example"}).status_code == 200
        assert regex_client.post("/sdapi/v1/skip", headers={"Origin": "https://friend.example.evil"}).status_code == 403


def _bare_repo(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(EXAMPLE, work)
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit",
                                                               "-qm", "v1"]):
        subprocess.run(["git", *args], cwd=work, check=True)
    bare = tmp_path / "evil-ext.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


def test_the_extensions_tab_install_needs_login_same_origin_and_a_remote_source(
        app, client: TestClient, host: ExtensionHost, tmp_path: Path) -> None:
    """The attack of the issue: the Install button's Gradio endpoint with a repository URL."""
    blocks = gradio_blocks(app)
    install = next(d["id"] for d in blocks.config["dependencies"]
                   if blocks.fns[d["id"]].inputs and blocks.fns[d["id"]].inputs[0].elem_id == "extensions_url")
    data = default_inputs(blocks, install)
    data[0] = _bare_repo(tmp_path).as_uri()
    assert call(client, install, data)["status"] == 401  # no credentials
    refused = call(client, install, data, headers={**AUTH, "Origin": LOCAL_OTHER_PORT})
    assert refused["status"] == 403 and "cross-site" in refused["text"]
    answer = call(client, install, data, headers={**AUTH, "Origin": BASE})
    # refused as a notice and the tab's status line (the tab keeps working), never installed
    status = answer["output"]["data"][0]
    assert status.startswith("⚠") and "--enable-insecure-extension-access" in status, answer
    assert not any(host.user_root.iterdir())
