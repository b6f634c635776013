"""Deployment guarantees: production settings refuse to start without secrets and pass Django's deploy checks."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, env):
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS"}}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", "--settings=config.settings.production",
                    env={"DATABASE_URL": "sqlite:////tmp/kyodaku-deploy-check.sqlite3", "ALLOWED_HOSTS": "x"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = manage("check", "--deploy", "--fail-level", "WARNING", "--settings=config.settings.production",
                    env={"SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "kyodaku.example.org",
                         "DATABASE_URL": "sqlite:////tmp/kyodaku-deploy-check.sqlite3"})
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not Path("/usr/bin/docker-compose").exists(), reason="Debian's docker-compose is not installed")
def test_docker_compose_file_is_valid():
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "SECRET_KEY"}, timeout=60)
    assert result.returncode == 0, result.stderr
