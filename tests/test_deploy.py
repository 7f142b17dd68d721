"""Package → deploy to a `serve` runner → invoke the deployed version, with the official SDK."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from kernel_actions.tooling.packaging import build_bundle

from .helpers import RunnerProcess, poll, sdk_client

APP = '''
import os
from kernel_actions import App

app = App("shipped")

@app.action("hello")
def hello(ctx, payload: str = "world") -> dict:
    return {{"message": f"{{os.environ.get('GREETING', 'hi')}} {{payload}}", "build": {build!r}}}
'''


def make_bundle(root: Path, build: str = "one", extra: str = "", requirements: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.py").write_text(APP.format(build=build) + extra)
    (root / "requirements.txt").write_text(requirements)
    return build_bundle(root / "main.py", root.parent / f"{root.name}.zip").path


def deploy(url: str, bundle: Path, version: str, **fields: str) -> dict:
    data = {"entrypoint_rel_path": "main.py", "version": version, **fields}
    r = httpx.post(f"{url}/deployments", files={"file": ("app.zip", bundle.read_bytes(),
                                                            "application/zip")},
                   data=data, timeout=60)
    assert r.status_code == 201, r.text
    return r.json()


def follow(url: str, dep_id: str) -> list[dict]:
    events = []
    with httpx.stream("GET", f"{url}/deployments/{dep_id}/events", timeout=300) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


@pytest.fixture
def served(start_runner, tmp_path: Path) -> RunnerProcess:
    return start_runner(None, command="serve", data_dir=tmp_path / "serve-data")


def test_following_a_finished_deployment_replays_its_summary(served: RunnerProcess,
                                                            tmp_path: Path) -> None:
    dep = deploy(served.url, make_bundle(tmp_path / "app"), "late")
    poll(lambda: httpx.get(f"{served.url}/deployments/{dep['id']}").json()["status"]
         == "running", timeout=120)
    events = [e for e in follow(served.url, dep["id"]) if e["event"] != "log"]
    assert [e["event"] for e in events] == ["app_version_summary", "deployment_state"]
    assert events[0]["app_name"] == "shipped" and events[0]["version"] == "late"


def test_round_trip_with_env_vars(served: RunnerProcess, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "app")
    dep = deploy(served.url, bundle, "1.0.0", **{"env_vars[GREETING]": "hello"})
    assert dep["status"] == "queued" and dep["env_vars"] == {"GREETING": ""}
    events = follow(served.url, dep["id"])
    kinds = [e["event"] for e in events]
    assert kinds.index("app_version_summary") < len(kinds) - 1
    assert events[-1]["event"] == "deployment_state"
    assert events[-1]["deployment"]["status"] == "running"
    summary = next(e for e in events if e["event"] == "app_version_summary")
    assert summary["app_name"] == "shipped" and summary["version"] == "1.0.0"

    k = sdk_client(served)
    inv = k.invocations.create(app_name="shipped", action_name="hello", version="1.0.0",
                               payload='"Ada"')
    assert json.loads(inv.output or "") == {"message": "hello Ada", "build": "one"}
    listed = httpx.get(f"{served.url}/invocations", params={"deployment_id": dep["id"]}).json()
    assert [i["id"] for i in listed] == [inv.id]
    app = next(a for a in k.apps.list() if a.version == "1.0.0")
    assert app.env_vars == {"GREETING": ""} and app.deployment == dep["id"]
    with pytest.raises(Exception) as missing:
        k.invocations.create(app_name="shipped", action_name="hello", version="9.9")
    assert "1.0.0" in str(missing.value)


def test_sdk_deployments_create_and_follow(served: RunnerProcess, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "app", build="sdk")
    k = sdk_client(served)
    dep = k.deployments.create(file=bundle.read_bytes(), entrypoint_rel_path="main.py",
                               version="2", env_vars={"GREETING": "hey"})
    states = [e.deployment.status for e in k.deployments.follow(dep.id)
              if e.event == "deployment_state"]
    assert states[-1] == "running"
    assert k.deployments.retrieve(dep.id).status == "running"
    inv = k.invocations.create(app_name="shipped", action_name="hello", version="2")
    assert json.loads(inv.output or "") == {"message": "hey world", "build": "sdk"}


def test_versions_are_unique_unless_forced(served: RunnerProcess, tmp_path: Path) -> None:
    first = deploy(served.url, make_bundle(tmp_path / "one", build="one"), "v1")
    follow(served.url, first["id"])
    again = httpx.post(f"{served.url}/deployments", files={"file": (
        "a.zip", make_bundle(tmp_path / "two", build="two").read_bytes())},
        data={"version": "v1", "entrypoint_rel_path": "main.py"})
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    forced = deploy(served.url, tmp_path / "two.zip", "v1", force="true")
    assert follow(served.url, forced["id"])[-1]["deployment"]["status"] == "running"
    k = sdk_client(served)
    inv = k.invocations.create(app_name="shipped", action_name="hello", version="v1")
    assert json.loads(inv.output or "")["build"] == "two"
    assert httpx.get(f"{served.url}/deployments/{first['id']}").json()["status"] == "stopped"


def test_failed_deployment_leaves_nothing(served: RunnerProcess, tmp_path: Path) -> None:
    root = tmp_path / "bad"
    bundle = make_bundle(root)
    # Break the code after packaging: the bundle is uploaded as is, and fails to load.
    import zipfile
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "main.py":
                data += b"\ndef broken(:\n"
            dst.writestr(info, data)
    dep = deploy(served.url, broken, "bad")
    final = follow(served.url, dep["id"])[-1]["deployment"]
    assert final["status"] == "failed"
    assert "SyntaxError" in final["status_reason"] and "main.py" in final["status_reason"]
    folder = tmp_path / "serve-data" / "deployments"
    assert not (folder / dep["id"]).exists()
    assert [p for p in folder.iterdir() if dep["id"] in p.name] == []
    not_zip = httpx.post(f"{served.url}/deployments", files={"file": ("x.zip", b"nope")})
    assert not_zip.status_code == 400


def test_deployed_versions_survive_a_restart(start_runner, tmp_path: Path) -> None:
    data = tmp_path / "persist"
    first = start_runner(None, command="serve", data_dir=data)
    dep = deploy(first.url, make_bundle(tmp_path / "app"), "keep")
    follow(first.url, dep["id"])
    first.stop()
    second = start_runner(None, command="serve", data_dir=data)
    second.wait_line("app shipped (keep)")
    k = sdk_client(second)
    inv = k.invocations.create(app_name="shipped", action_name="hello", version="keep")
    assert inv.status == "succeeded"


def test_dependencies_installed_once_then_reused(served: RunnerProcess, tmp_path: Path) -> None:
    # Imported inside the action: the packaging machine need not have it installed.
    extra = "\n@app.action('toml')\ndef toml(ctx) -> str:\n" \
            "    import tomli_w\n    return tomli_w.dumps({'a': 1})\n"
    first = deploy(served.url, make_bundle(tmp_path / "a", extra=extra,
                                           requirements="tomli-w==1.2.0\n"), "deps-1")
    events = follow(served.url, first["id"])
    assert events[-1]["deployment"]["status"] == "running", events[-3:]
    assert any("installing tomli-w==1.2.0" in e.get("message", "") for e in events)
    second = deploy(served.url, make_bundle(tmp_path / "b", extra=extra,
                                            requirements="tomli-w==1.2.0\n"), "deps-2")
    events = follow(served.url, second["id"])
    assert events[-1]["deployment"]["status"] == "running"
    assert any("reusing installed dependencies" in e.get("message", "") for e in events)
    assert not any("installing tomli-w" in e.get("message", "") for e in events)
    k = sdk_client(served)
    inv = k.invocations.create(app_name="shipped", action_name="toml", version="deps-2")
    assert json.loads(inv.output or "") == "a = 1\n"


def plain_zip(path: Path, files: dict[str, str | bytes]) -> Path:
    """A bundle made by hand, without the manifest `kernel-actions package` adds."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def post_zip(url: str, bundle: Path, version: str, **fields: str) -> httpx.Response:
    return httpx.post(f"{url}/deployments", files={"file": ("app.zip", bundle.read_bytes())},
                      data={"entrypoint_rel_path": "main.py", "version": version, **fields},
                      timeout=60)


MARKING_APP = '''
from pathlib import Path
from kernel_actions import App

Path({marker!r}).write_text("top-level code ran")
app = App("shipped")

@app.action("hello")
def hello(ctx) -> str:
    return "hi"
'''


def test_version_conflict_is_refused_before_any_code_runs(
        served: RunnerProcess, tmp_path: Path) -> None:
    first = deploy(served.url, make_bundle(tmp_path / "one"), "taken")
    assert follow(served.url, first["id"])[-1]["deployment"]["status"] == "running"
    marker = tmp_path / "ran"
    bundle = plain_zip(tmp_path / "plain.zip", {"main.py": MARKING_APP.format(marker=str(marker))})
    r = post_zip(served.url, bundle, "taken")
    assert r.status_code == 409 and r.json()["code"] == "conflict", r.text
    assert "'shipped' already has a version 'taken'" in r.json()["message"]
    listed = httpx.get(f"{served.url}/deployments").json()
    assert [d["id"] for d in listed] == [first["id"]]  # nothing was kept
    assert not marker.exists()
    assert not any(p.name != first["id"] for p in (tmp_path / "serve-data" / "deployments")
                   .iterdir())


@pytest.mark.parametrize(("declared", "complaint"), [
    ({"pyproject.toml": '[project]\nname = "x"\nversion = "1"\n'
                        'dependencies = ["--target={target}", "six"]\n'}, "is a pip option"),
    ({"requirements.txt": "six\n--target={target}\n"}, "is a pip option"),
    ({"requirements.txt": "-r other.txt\n"}, "is a pip option"),
    ({"requirements.txt": "six @ file:///{target}\n"}, "--allow-local-deps"),
    ({"requirements.txt": "./vendored/pkg\n"}, "is not a PEP 508 requirement"),
    ({"pyproject.toml": '[project]\ndependencies = [1]\n'}, "list of requirement strings"),
])
def test_dependencies_must_be_plain_requirements(
        served: RunnerProcess, tmp_path: Path, declared: dict[str, str], complaint: str) -> None:
    target = tmp_path / "outside"
    files = {name: text.format(target=target) for name, text in declared.items()}
    bundle = plain_zip(tmp_path / "deps.zip", {"main.py": APP.format(build="x"), **files})
    r = post_zip(served.url, bundle, "deps")
    assert r.status_code == 400 and r.json()["code"] == "bad_request", r.text
    assert complaint in r.json()["message"]
    assert httpx.get(f"{served.url}/deployments").json() == []
    assert not target.exists()


def test_local_dependencies_need_the_flag(start_runner, tmp_path: Path) -> None:
    runner = start_runner(None, "--allow-local-deps", command="serve", data_dir=tmp_path / "d")
    local = tmp_path / "localpkg"
    bundle = plain_zip(tmp_path / "local.zip", {
        "main.py": APP.format(build="x"),
        "requirements.txt": f"localpkg @ file://{local}\n"})
    r = post_zip(runner.url, bundle, "local")
    assert r.status_code == 201, r.text
    # The option is still refused with the flag: only requirement strings reach pip.
    bundle = plain_zip(tmp_path / "opt.zip", {"main.py": APP.format(build="x"),
                                              "requirements.txt": "--target=/tmp/x\n"})
    assert post_zip(runner.url, bundle, "opt").status_code == 400


def test_an_archive_that_amplifies_930x_is_refused(served: RunnerProcess, tmp_path: Path) -> None:
    # Many members, each under the per-member floor, amplifying ~1000x together.
    files: dict[str, str | bytes] = {"main.py": APP.format(build="x")}
    files.update({f"data/{i}.bin": bytes(512 * 1024) for i in range(8)})
    bundle = plain_zip(tmp_path / "bomb.zip", files)
    r = post_zip(served.url, bundle, "bomb")
    assert r.status_code == 400, r.text
    assert "looks like a zip bomb" in r.json()["message"]
    assert httpx.get(f"{served.url}/deployments").json() == []


def test_a_deployment_deleted_stops_serving_and_leaves_its_code_behind_nowhere(
        served: RunnerProcess, tmp_path: Path) -> None:
    from kernel import NotFoundError

    k = sdk_client(served)
    dep = k.deployments.create(file=make_bundle(tmp_path / "app", build="gone").read_bytes(),
                               entrypoint_rel_path="main.py", version="del")
    assert follow(served.url, dep.id)[-1]["deployment"]["status"] == "running"
    folder = tmp_path / "serve-data" / "deployments" / dep.id
    assert folder.is_dir()
    assert json.loads(k.invocations.create(app_name="shipped", action_name="hello",
                                           version="del").output or "")["build"] == "gone"
    k.deployments.delete(dep.id)
    got = k.deployments.retrieve(dep.id)
    assert got.status == "stopped" and got.status_reason == "deleted"
    # Its version is served no more: not listed, not invocable; its code is deleted.
    assert not [a for a in k.apps.list() if a.version == "del"]
    with pytest.raises(NotFoundError):
        k.invocations.create(app_name="shipped", action_name="hello", version="del")
    poll(lambda: not folder.exists(), timeout=30)
    # Followed after the delete: the stream ends on its final state.
    assert follow(served.url, dep.id)[-1]["deployment"]["status"] == "stopped"
    k.deployments.delete(dep.id)  # already stopped: nothing to do
    with pytest.raises(NotFoundError):
        k.deployments.delete("nosuchdeployment")
