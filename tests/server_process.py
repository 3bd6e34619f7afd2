"""A server started as a child process for a test: wait until /healthz answers, stop it after."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(
    command: list[str],
    *,
    cwd: Path,
    env: dict,
    log: Path,
    url: str,
    timeout: float,
    headers: dict | None = None,
) -> Iterator[subprocess.Popen]:
    """Run `command` in its own process group, its output in `log`, until the block ends."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    name = " ".join(command)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{name} did not answer within {timeout}s:\n{log.read_text()}")
            try:
                httpx.get(f"{url}/healthz", headers=headers, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
