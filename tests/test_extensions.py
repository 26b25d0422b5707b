"""Extensions: discovery, broken ones reported (not fatal), enable/disable, git install / update /
uninstall, and the example extension's tab and route through the UI and a real server."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from pipelines.events import AppStarted, EventHub, ImageSaved
from tests.test_server import running_server
from webui.extensions import API_VERSION
from webui.extensions.gitops import ExtensionInstallError, folder_name
from webui.extensions.host import ExtensionHost
from webui.extensions.manifest import ManifestError, read_manifest
from webui.extensions.state import ExtensionState
from webui.ui.extensions.tab import apply_enabled, extension_rows, run_change

EXAMPLE = Path(__file__).parent / "extension_example" / "hello"


def write_extension(root: Path, name: str, main: str, api: int = API_VERSION, extra: str = "") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "extension.toml").write_text(
        f'[extension]\nname = "{name}"\nversion = "0.1"\napi = {api}\n{extra}', encoding="utf-8")
    (folder / "main.py").write_text(main, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def host_ctx(ctx):
    """The module's context, shared by every host these tests build (registrations replace)."""
    return ctx


def make_host(root: Path, data: Path, ctx, **kwargs) -> ExtensionHost:
    """A host over ``root`` only (no built-ins), registering into ``ctx``."""
    kwargs.setdefault("allow_local_sources", True)  # the test repositories are file:// URLs
    host = ExtensionHost(root, ExtensionState(data / "extensions.json"), ctx, builtin_root=data / "no-builtins",
                         **kwargs)
    host.load()
    return host


@pytest.fixture
def roots(tmp_path: Path, host_ctx) -> tuple[Path, Path, object]:
    root, data = tmp_path / "extensions", tmp_path / "data"
    root.mkdir()
    shutil.copytree(EXAMPLE, root / "hello")
    return root, data, host_ctx


def test_example_extension_loads_with_its_tab_route_and_callbacks(roots: tuple[Path, Path]) -> None:
    host = make_host(*roots)
    (record,) = host.records
    assert (record.name, record.status, record.error) == ("hello", "loaded", None)
    assert [tab.title for tab in host.tabs] == ["Hello"]
    assert "Hello steps" in host.ctx.scripts.titles("txt2img")
    paths = {route.path for router in host.routers for route in router.routes}
    assert paths == {"/ext/hello/greet", "/ext/hello/events"}
    host.ctx.events.emit("app_started", AppStarted(version="9"))
    host.ctx.events.emit("image_saved", ImageSaved(path=Path("x.png"), kind="txt2img", infotext=None))
    events = next(r for r in host.routers[0].routes if r.path == "/ext/hello/events").endpoint()
    assert events == {"started": ["9"], "saved": ["x.png"]}


@pytest.mark.parametrize("main, extra, api, reason", [
    ("def setup(ext):\n    return (\n", "", API_VERSION, "SyntaxError"),
    ("def setup(ext): pass\n", "", API_VERSION + 1, f"needs extension API v{API_VERSION + 1}"),
    ("import no_such_module_xyz\n", "", API_VERSION, "ModuleNotFoundError: No module named 'no_such_module_xyz'"),
    ("def setup(ext):\n    raise RuntimeError('boom')\n", "", API_VERSION, "RuntimeError: boom (main.py, line 2)"),
    ("x = 1\n", "", API_VERSION, "defines no setup(ext) function"),
    ("def setup(ext): pass\n", 'requirements = ["no-such-package-xyz>=1"]\n', API_VERSION,
     "requires 'no-such-package-xyz>=1', which is not installed"),
])
def test_broken_extension_is_reported_and_the_others_still_load(roots: tuple, main: str, extra: str,
                                                                 api: int, reason: str) -> None:
    write_extension(roots[0], "broken", main, api=api, extra=extra)
    host = make_host(*roots)
    by_name = {r.name: r for r in host.records}
    assert by_name["hello"].status == "loaded"
    assert by_name["broken"].status == "error"
    assert reason in by_name["broken"].error
    assert not any(tab.owner == "broken" for tab in host.tabs)
    row = next(r for r in extension_rows(host) if r[0] == "broken")
    assert row[2] == "error" and reason in row[5]


def test_invalid_manifest_is_reported(tmp_path: Path, host_ctx) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "extension.toml").write_text('[extension]\nname = "../evil"\nversion = "1"\napi = 1\n')
    with pytest.raises(ManifestError, match="name"):
        read_manifest(folder)
    (folder / "extension.toml").write_text('[extension]\nname = "ok"\nversion = "1"\napi = 1\nentry = "/etc/x.py"\n')
    with pytest.raises(ManifestError, match="entry"):
        read_manifest(folder)
    host = make_host(tmp_path, tmp_path / "data", host_ctx)
    assert host.records[0].status == "error" and "entry" in host.records[0].error


def test_disable_is_persisted_and_applies_on_restart(roots: tuple) -> None:
    root, data, ctx = roots
    host = make_host(root, data, ctx)
    assert "Restart" in apply_enabled(host, [])
    assert json.loads((data / "extensions.json").read_text()) == {"disabled": ["hello"]}
    assert host.records[0].status == "loaded"  # this run keeps it; the next start does not
    again = make_host(root, data, ctx)
    assert (again.records[0].status, again.tabs, again.routers) == ("disabled", [], [])
    apply_enabled(again, ["hello"])
    assert make_host(root, data, ctx).records[0].status == "loaded"
    assert make_host(root, data, ctx, disable_all=True).records[0].status == "disabled"


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture
def bare_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A bare git repository holding the example extension, and a work clone to push updates from."""
    work = tmp_path / "src"
    shutil.copytree(EXAMPLE, work)
    _git("init", "-q", "-b", "main", cwd=work)
    _git("add", ".", cwd=work)
    _git("commit", "-qm", "v1", cwd=work)
    bare = tmp_path / "hello-ext.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    _git("remote", "add", "origin", str(bare), cwd=work)
    return bare, work


def test_install_update_uninstall_from_a_git_url(tmp_path: Path, bare_repo: tuple[Path, Path], host_ctx) -> None:
    bare, work = bare_repo
    root = tmp_path / "exts"
    host = make_host(root, tmp_path / "data", host_ctx)
    message = run_change(host, "install", bare.as_uri())
    assert "Restart" in message and (root / "hello-ext" / "main.py").exists()
    assert [(r.name, r.status) for r in host.records] == [("hello", "restart to load")]
    assert make_host(root, tmp_path / "data", host_ctx).records[0].status == "loaded"

    (work / "greeting.py").write_text("def greeting(name):\n    return f'Hi {name}'\n")
    _git("commit", "-qam", "v2", cwd=work)
    _git("push", "-q", "origin", "main", cwd=work)
    run_change(host, "update", "hello")
    assert "Hi" in (root / "hello-ext" / "greeting.py").read_text()

    with pytest.raises(ExtensionInstallError, match="already installed"):
        run_change(host, "install", bare.as_uri())
    run_change(host, "uninstall", "hello")
    assert not (root / "hello-ext").exists() and host.records == []
    with pytest.raises(LookupError):
        run_change(host, "uninstall", "hello")


@pytest.mark.parametrize("url, name, message", [
    ("file:///x/repo.git", "../escape", "not a valid extension folder name"),
    ("file:///x/repo.git", "a/b", "not a valid extension folder name"),
    ("/etc/passwd", None, "not a git URL"),
    ("--upload-pack=evil", None, "not a git URL"),
    ("", None, "enter the git URL"),
])
def test_install_refuses_bad_urls_and_names(tmp_path: Path, url: str, name, message: str, host_ctx) -> None:
    host = make_host(tmp_path / "exts", tmp_path / "data", host_ctx)
    with pytest.raises(ExtensionInstallError, match=message):
        host.install(url, name)
    assert not (tmp_path / "exts").exists() or not any((tmp_path / "exts").iterdir())


def test_install_of_a_repo_without_manifest_leaves_nothing(tmp_path: Path, host_ctx) -> None:
    work = tmp_path / "plain"
    work.mkdir()
    (work / "README.md").write_text("not an extension")
    _git("init", "-q", cwd=work)
    _git("add", ".", cwd=work)
    _git("commit", "-qm", "x", cwd=work)
    host = make_host(tmp_path / "exts", tmp_path / "data", host_ctx)
    with pytest.raises(ExtensionInstallError, match="not an Atelier extension"):
        host.install(work.as_uri())
    assert not (tmp_path / "exts" / "plain").exists()


def test_public_listening_forbids_changes_unless_allowed(tmp_path: Path, bare_repo: tuple[Path, Path],
                                                         host_ctx) -> None:
    host = make_host(tmp_path / "exts", tmp_path / "data", host_ctx, allow_install=False)
    with pytest.raises(ExtensionInstallError, match="--enable-insecure-extension-access"):
        host.install(bare_repo[0].as_uri())
    assert folder_name("https://github.com/someone/sd-webui-thing.git") == "sd-webui-thing"


def test_sources_on_this_machine_need_the_insecure_flag(tmp_path: Path, bare_repo: tuple[Path, Path],
                                                        host_ctx) -> None:
    """A file:// URL (or a remote that is one) would run code from anywhere on this disk."""
    bare, _ = bare_repo
    strict = make_host(tmp_path / "exts", tmp_path / "data", host_ctx, allow_local_sources=False)
    with pytest.raises(ExtensionInstallError, match="file://.*--enable-insecure-extension-access"):
        strict.install(bare.as_uri())
    assert not (tmp_path / "exts").exists() or not any((tmp_path / "exts").iterdir())
    make_host(tmp_path / "exts", tmp_path / "data", host_ctx).install(bare.as_uri())
    strict = make_host(tmp_path / "exts", tmp_path / "data", host_ctx, allow_local_sources=False)
    with pytest.raises(ExtensionInstallError, match="transport 'file' not allowed"):
        strict.update("hello")


@pytest.mark.e2e  # a real launch.py server process
def test_real_server_serves_the_extension_route_tab_and_reports_broken_ones(
        tmp_path: Path, tiny_models_dir: Path, roots: tuple) -> None:
    root = roots[0]
    write_extension(root, "broken", "def setup(ext):\n    raise RuntimeError('kaput')\n")
    with running_server(tmp_path, tiny_models_dir, "--extensions-dir", str(root)) as server:
        assert server.json("GET", "/ext/hello/greet?name=Ada") == {
            "message": "Hello, Ada!", "extension": "hello", "version": "1.2.0"}
        assert server.json("GET", "/ext/hello/events")["started"], "app_started callback did not run"
        status, _, page = server.request("GET", "/config")
        config = json.loads(page)
        labels = [c.get("props", {}).get("label") for c in config["components"]]
        assert "Hello" in labels and "Extensions" in labels
        body = {"prompt": "a hut", "steps": 20, "width": 64, "height": 64, "seed": 5,
                "script_name": "Hello steps", "script_args": [2], "save_images": True}
        assert "Hello steps: 2" in server.json("POST", "/sdapi/v1/txt2img", body)["info"]
        (saved_path,) = server.json("GET", "/ext/hello/events")["saved"]
        assert _red_corner(Path(saved_path))
        extensions = {e["name"]: e for e in server.json("GET", "/sdapi/v1/extensions")}
        assert extensions["hello"]["enabled"] and extensions["hello"]["version"] == "1.2.0"
        assert extensions["broken"]["status"] == "error" and "kaput" in extensions["broken"]["error"]
        from gradio_client import Client

        client = Client(server.base_url, verbose=False)
        try:
            assert client.predict("Ada", api_name="/hello_greet") == "Hello, Ada!"
        finally:
            client.close()  # its heartbeat stream would hold the server's graceful shutdown


def test_model_loaded_event_reaches_subscribers(ctx) -> None:
    seen: list = []
    unsubscribe = ctx.events.subscribe("model_loaded", seen.append, owner="test")
    try:
        ctx.manager.unload()
        ctx.manager.checkpoint("tiny-sd1")
    finally:
        unsubscribe()
    assert [event.title.split(" [")[0] for event in seen] == ["tiny-sd1.safetensors"]
    assert seen[0].architecture


def test_failing_callback_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub()
    hub.subscribe("image_saved", lambda event: 1 / 0, owner="extension bad")
    calls: list = []
    hub.subscribe("image_saved", calls.append)
    hub.emit("image_saved", ImageSaved(path=Path("a.png"), kind="txt2img", infotext=None))
    assert len(calls) == 1 and "extension bad" in caplog.text
    with pytest.raises(ValueError, match="unknown event"):
        hub.subscribe("nope", print)  # type: ignore[arg-type]


def _red_corner(path: Path) -> bool:
    from PIL import Image

    with Image.open(path) as image:
        r, g, b = image.convert("RGB").getpixel((1, 1))
    return r > 230 and g < 25 and b < 25


def test_example_script_and_postprocessor_through_the_ui_functions(roots: tuple) -> None:
    from webui.ui.generation import actions
    from webui.ui.generation.scripts import SEP, make_runner

    host = make_host(*roots)
    ctx = host.ctx
    saved: list = []
    unsubscribe = ctx.events.subscribe("image_saved", saved.append)
    try:
        runner = make_runner(ctx, "Hello steps", {f"Hello steps{SEP}0": 3})
        request = actions.txt2img_request(ctx, prompt="a hut", negative_prompt="", steps=20, width=64, height=64,
                                          seed=5, sampler_name="Euler", scheduler="Automatic", n_iter=1,
                                          batch_size=1, cfg_scale=7.0)
        result = actions.finish(actions.start(ctx, "txt2img", request, "hello-user", runner))
    finally:
        unsubscribe()
    assert "Steps: 3," in result.infotexts[0] and "Hello steps: 3" in result.infotexts[0]
    assert len(saved) == 1 and _red_corner(saved[0].path)
    with pytest.raises(ValueError, match="between 1 and 8"):
        make_runner(ctx, "Hello steps", {f"Hello steps{SEP}0": 9})


def test_example_script_through_the_api_is_listed_described_and_runs(roots: tuple) -> None:
    import base64
    import io

    from fastapi.testclient import TestClient
    from PIL import Image

    from webui.server import create_app

    host = make_host(*roots)
    client = TestClient(create_app(host.ctx, api=True, webui=False, extensions=host))
    assert "hello steps" in client.get("/sdapi/v1/scripts").json()["txt2img"]
    info = [s for s in client.get("/sdapi/v1/script-info").json() if s["name"] == "hello steps"]
    assert info[0]["args"][0] | {"value": 2} == {"label": "Steps", "value": 2, "minimum": 1, "maximum": 8,
                                                   "step": 1, "choices": None}
    body = {"prompt": "a hut", "steps": 20, "width": 64, "height": 64, "seed": 5, "script_name": "hello steps",
            "script_args": [4]}
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    assert "Hello steps: 4" in response.json()["info"]
    with Image.open(io.BytesIO(base64.b64decode(response.json()["images"][0]))) as image:
        assert image.convert("RGB").getpixel((1, 1))[0] > 230  # the post-processed pixels are returned
    bad = client.post("/sdapi/v1/txt2img", json={**body, "script_args": [40]})
    assert bad.status_code == 422 and "between 1 and 8" in bad.text


def test_on_job_step_runs_on_the_job_thread_and_can_hold_it(tmp_path: Path, host_ctx) -> None:
    """ext.on_job_step (API 2) through the step_gate test extension: a generation is held at
    step 3 of its first batch, seen there by /progress, and finishes once released."""
    from fastapi.testclient import TestClient

    from tests.step_gate import EXTENSIONS_DIR
    from webui.server import create_app

    root = tmp_path / "extensions"
    shutil.copytree(EXTENSIONS_DIR, root)
    host = make_host(root, tmp_path / "data", host_ctx)
    assert [(r.name, r.status) for r in host.records] == [("step_gate", "loaded")]
    client = TestClient(create_app(host.ctx, api=True, webui=False, extensions=host))
    assert client.post("/ext/step_gate/arm", json={"step": 3}).status_code == 200
    answers: list = []
    body = {"prompt": "a held hut", "steps": 5, "width": 64, "height": 64, "seed": 5}
    worker = threading.Thread(target=lambda: answers.append(client.post("/sdapi/v1/txt2img", json=body)))
    worker.start()
    try:
        held = client.get("/ext/step_gate/wait", params={"timeout": 60}).json()
        assert (held["kind"], held["step"], held["batch"]) == ("txt2img", 3, 0)
        assert client.get("/sdapi/v1/progress").json()["state"]["sampling_step"] == 3
    finally:
        client.post("/ext/step_gate/release")
    worker.join(60)
    assert answers and answers[0].status_code == 200, answers
    assert "Steps: 5," in json.loads(answers[0].json()["info"])["infotexts"][0]
