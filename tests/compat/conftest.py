"""Shared fixtures of the hvac compatibility tests: a dev server with root token `root`, started
once per session, and a client for it.

The server is `target/debug/coffer` (override with COFFER_BIN). With COFFER_COMPAT_TARGET=bao
the same tests run against a real OpenBao dev server instead, which is how their expectations
were checked.
"""

import os
import pathlib
import queue
import socket
import subprocess
import tempfile
import threading
import uuid

import hvac
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60


def _free_port_pair():
    """A free port on 127.0.0.1 whose neighbour is free too (bao's cluster port)."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


def _start(command, marker, log_path):
    """Starts a server, waits for `marker` on its output, and returns (process, lines read)."""
    log = open(log_path, "w", encoding="utf-8")
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(pathlib.Path(log_path).parent)},
    )
    lines = queue.Queue()

    def drain():
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    seen = []
    while True:
        try:
            line = lines.get(timeout=START_TIMEOUT_SECONDS)
        except queue.Empty:
            process.kill()
            raise RuntimeError(f"{command[0]} did not start: {''.join(seen)}")
        if line is None:
            process.wait()
            raise RuntimeError(f"{command[0]} exited: {''.join(seen)} {pathlib.Path(log_path).read_text()}")
        seen.append(line)
        if marker in line:
            return process, seen


def _start_coffer(workdir):
    binary = os.environ.get("COFFER_BIN", str(ROOT / "target" / "debug" / "coffer"))
    process, seen = _start(
        [binary, "server", "-dev", "-dev-root-token-id=root", "-dev-listen-address=127.0.0.1:0"],
        "Coffer server started",
        workdir / "coffer.log",
    )
    listen = [line.split(":", 1)[1].strip() for line in seen if line.strip().startswith("Listen Address:")]
    assert listen, "".join(seen)
    return process, f"http://{listen[0]}"


def _start_bao(workdir):
    port = _free_port_pair()
    binary = os.environ.get("COFFER_BAO", str(ROOT / "target" / "compat" / "venv" / "bin" / "bao"))
    process, _ = _start(
        [binary, "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address=127.0.0.1:{port}"],
        "OpenBao server started!",
        workdir / "bao.log",
    )
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def server_addr():
    """The address of a dev server with root token `root`, stopped after the session."""
    with tempfile.TemporaryDirectory() as workdir:
        start = _start_bao if os.environ.get("COFFER_COMPAT_TARGET") == "bao" else _start_coffer
        process, addr = start(pathlib.Path(workdir))
        try:
            yield addr
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def client(server_addr):
    return hvac.Client(url=server_addr, token="root")


@pytest.fixture
def name():
    """A fresh name, so tests sharing the server never see each other's keys or mounts."""
    return f"t{uuid.uuid4().hex[:10]}"
