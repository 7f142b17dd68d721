"""``kernel-actions dev`` listens and starts its first worker before importing the
server stack: that worker is the one the live code loads into, it is told the real
port, and nothing is left behind when the runner never takes it (an error, Ctrl-C).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from kernel_actions.runner.config import Config
from kernel_actions.runner.engine.pool import CodePool, WorkerProcess
from kernel_actions.runner.head_start import head_start
from kernel_actions.runner.listening import url_for
from kernel_actions.runner.worker_env import read_env_file, worker_environment

from .helpers import RunnerProcess, invoke, poll

APP = '''
import os

from kernel_actions import App

app = App("early")


@app.action("env")
def env(ctx, payload: str = "") -> dict:
    return {"base_url": os.environ["KERNEL_BASE_URL"],
            "greeting": os.environ.get("GREETING"), "pid": os.getpid()}
'''


def write_app(folder: Path) -> Path:
    entry = folder / "main.py"
    entry.write_text(APP)
    (folder / ".env").write_text("GREETING=from-dotenv\n")
    return entry


def config_for(entry: Path, **settings: Any) -> Config:
    return Config.for_entrypoint(str(entry), data_dir=entry.parent / "data", port=0,
                                 reload=False, **settings)


class Results:
    """A worker listener keeping results to wait on."""

    def __init__(self) -> None:
        self.results: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def worker_logs(self, worker: WorkerProcess, items: list[list[Any]]) -> None:
        pass

    def worker_result(self, worker: WorkerProcess, message: dict[str, Any]) -> None:
        self.results.put_nowait(message)

    def worker_exited(self, worker: WorkerProcess, reason: str) -> None:
        pass


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (absent, or a zombie nobody has reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_pool_loads_the_code_into_the_worker_started_first(tmp_path: Path) -> None:
    entry = write_app(tmp_path)
    config = config_for(entry)
    head = head_start(config)
    port = head.sock.getsockname()[1]
    assert port != 0
    url = url_for(config.host, port)

    def env() -> dict[str, str]:
        return worker_environment(config, url, dotenv=read_env_file(tmp_path / ".env"))

    async def main() -> dict[str, Any]:
        results = Results()
        pool = CodePool(str(entry), tmp_path, env, results)
        try:
            started = head.take_worker()
            assert started is not None
            pool.adopt_standby(started)
            assert await asyncio.wait_for(pool.reload(), 30)
            assert pool.current is not None and pool.current.pid == started.proc.pid
            pool.current.invoke("inv1", "early", "env", "latest", None)
            return await asyncio.wait_for(results.results.get(), 30)
        finally:
            await pool.close()

    try:
        result = asyncio.run(main())
    finally:
        head.close()
    assert result["status"] == "succeeded", result
    output = json.loads(result["output"])
    # Exactly the environment a later worker gets: the real port, the app's .env.
    assert output["base_url"] == f"http://127.0.0.1:{port}"
    assert output["greeting"] == "from-dotenv"


MARKED_APP = APP.replace("import os\n", "import os\nimport pathlib\n"
                         "pathlib.Path('imported').touch()\n", 1)


def test_the_first_worker_loads_the_code_before_the_runner_asks(tmp_path: Path) -> None:
    entry = tmp_path / "main.py"
    entry.write_text(MARKED_APP)
    config = config_for(entry)
    head = head_start(config)
    try:
        assert head.worker is not None and head.worker.preloaded == str(entry)
        # No event loop and no pool yet: the app is imported all the same.
        poll(lambda: (tmp_path / "imported").exists(), timeout=30)
    finally:
        head.close()


def test_code_with_missing_variables_is_not_loaded_early_and_a_refused_one_is_dropped(
        tmp_path: Path) -> None:
    entry = tmp_path / "main.py"
    entry.write_text(MARKED_APP.replace('App("early")', 'App("early", env=["NEEDED"])'))
    os.environ.pop("NEEDED", None)
    config = config_for(entry)
    head = head_start(config)
    try:
        assert head.worker is not None and head.worker.preloaded is None
    finally:
        head.close()

    # A worker that loaded the code early, then a check that refuses the code: the
    # worker that ran it is dropped, and the next load goes into a fresh one.
    os.environ["NEEDED"] = "1"
    try:
        head = head_start(config)
    finally:
        del os.environ["NEEDED"]
    url = url_for(config.host, head.sock.getsockname()[1])

    async def main() -> tuple[bool, bool, int | None]:
        refuse = [True]

        def precheck() -> Any:
            from kernel_actions.runner.engine.pool import LoadFailure
            return LoadFailure("NEEDED is missing", None, None) if refuse[0] else None

        pool = CodePool(str(entry), tmp_path, lambda: worker_environment(
            config, url, dotenv={"NEEDED": "1"}), Results(), precheck=precheck)
        try:
            started = head.take_worker()
            assert started is not None and started.preloaded == str(entry)
            pool.adopt_standby(started)
            first = await asyncio.wait_for(pool.reload(), 30)
            await asyncio.wait_for(asyncio.to_thread(
                poll, lambda: gone(started.proc.pid), timeout=30), 60)
            refuse[0] = False
            second = await asyncio.wait_for(pool.reload(), 30)
            serving = pool.current.pid if pool.current is not None else None
            assert serving != started.proc.pid
            return first, second, serving
        finally:
            await pool.close()

    try:
        first, second, serving = asyncio.run(main())
    finally:
        head.close()
    assert (first, second) == (False, True) and serving is not None


def test_a_head_start_nobody_took_leaves_no_process_and_frees_the_port(tmp_path: Path) -> None:
    config = config_for(write_app(tmp_path))
    head = head_start(config)
    port = head.sock.getsockname()[1]
    assert head.worker is not None
    pid = head.worker.proc.pid
    head.close()
    assert head.worker is None and head.sock.fileno() == -1
    assert gone(pid)
    with socket.socket() as again:  # the address is free again
        again.bind(("127.0.0.1", port))


def test_no_worker_is_started_early_under_debug_or_without_live_code(tmp_path: Path) -> None:
    entry = write_app(tmp_path)
    for config in (config_for(entry, debug=True),
                   Config(entrypoint=None, data_dir=tmp_path / "data", port=0)):
        head = head_start(config)
        try:
            assert head.worker is None
            assert head.sock.getsockname()[1] != 0
        finally:
            head.close()


def test_a_taken_port_fails_before_any_worker_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = config_for(write_app(tmp_path))
        config.port = taken.getsockname()[1]
        before = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text()
        with pytest.raises(OSError):
            head_start(config)
        assert Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text() == before


def test_dev_serves_its_first_invocation_from_the_early_worker(tmp_path: Path) -> None:
    write_app(tmp_path)
    runner = RunnerProcess(["dev", "main.py", "--port", "0", "--no-reload",
                            "--data-dir", str(tmp_path / "data")], cwd=tmp_path)
    try:
        url = runner.wait_ready()
        # The worker started before the runner knew its port was told the real one.
        output = json.loads(invoke(url, "env", app="early")["output"])
        assert output["base_url"] == url
        assert output["greeting"] == "from-dotenv"
    finally:
        runner.close()


def test_ctrl_c_while_the_server_stack_imports_leaves_no_worker(tmp_path: Path) -> None:
    write_app(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "KERNEL_BASE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernel_actions.cli", "dev", "main.py", "--port", "0",
         "--no-reload", "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
        # As from a terminal: Ctrl-C's default handling even under a background job.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    try:
        # The first worker exists once the CLI has bound its socket, before the runner
        # has imported its server or said it listens: interrupt then.
        found = poll(lambda: children.read_text().split(), timeout=30, interval=0.001)
        worker = int(cast(list[str], found)[0])
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 130, output
        assert "listening on" not in output and "Traceback" not in output
        poll(lambda: gone(worker), timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
