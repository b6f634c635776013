"""`make run HOST=...`: the demo's banner and receipts' `iss` name the address actually served (issue 19)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def dry_run(**env) -> list[str]:
    """The commands `make run` would run (make -n), with this environment."""
    base = {k: v for k, v in os.environ.items() if k != "KYODAKU_BASE_URL"}
    done = subprocess.run(["make", "-n", "-f", str(ROOT / "Makefile"), "run", "HOST=127.0.0.1:9123"],
                          cwd=ROOT, env={**base, **env}, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def test_make_run_with_a_host_sets_the_base_url_for_the_demo_and_the_server():
    if (ROOT / ".env").exists() and "KYODAKU_BASE_URL=" in (ROOT / ".env").read_text():
        pytest.skip("this checkout's .env sets KYODAKU_BASE_URL")
    lines = dry_run()
    seed = next(line for line in lines if "seed_demo" in line)
    server = next(line for line in lines if "runserver" in line)
    assert seed.startswith("KYODAKU_BASE_URL=http://127.0.0.1:9123 ")
    assert server.startswith("KYODAKU_BASE_URL=http://127.0.0.1:9123 ") and server.endswith("runserver 127.0.0.1:9123")


def test_a_base_url_from_the_environment_wins():
    lines = dry_run(KYODAKU_BASE_URL="https://kyodaku.example.org")
    assert not any("KYODAKU_BASE_URL=http://127.0.0.1:9123" in line for line in lines)
