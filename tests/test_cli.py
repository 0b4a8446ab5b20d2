from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from policyarc.cli import app, sim_banner
from policyarc.sim.atlassian import build_world

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "sim" in result.output


def test_sim_help() -> None:
    result = runner.invoke(app, ["sim", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--port", "--host", "--seed", "--auto-consent", "--token-ttl", "--no-rate-limits"):
        assert option in result.output


def test_sim_rejects_a_bad_seed_file(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"memberships": [{"site": "initech", "email": "bob@example.com"}]}))
    result = runner.invoke(app, ["sim", "--seed", str(seed)])
    assert result.exit_code == 2
    assert "unknown site 'initech'" in result.output


def test_banner_names_what_a_client_needs() -> None:
    banner = sim_banner(build_world(), "http://127.0.0.1:9400")
    for expected in (
        "http://127.0.0.1:9400",
        "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f",
        "policyarc-demo / policyarc-demo-secret",
        "POLICYARC_ATLASSIAN_SITE_URL=http://127.0.0.1:9400/site/{site}",
        "carol@example.com",
    ):
        assert expected in banner


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_sim_serves_over_http() -> None:
    port = _free_port()
    script = Path(sys.executable).with_name("policyarc")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from policyarc.cli import main; main()"]
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [*command, "sim", "--port", str(port), "--no-rate-limits"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/site/acme/_edge/tenant_info", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, "policyarc sim exited early"
                assert time.monotonic() < deadline, "policyarc sim did not start listening within 20 s"
                time.sleep(0.1)  # a real process: nothing to advance but time
        assert response.json() == {"cloudId": "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"}
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}" in output.decode()
