"""The layers contract (pyproject.toml, [tool.importlinter]; docs/architecture.md) holds, and `lint-imports` does
fail on an upward import: a copy of the project's packages with one scratch module importing upward breaks it."""
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["root_packages"]


def _copy_project(to: Path) -> None:
    """The Python files of every layer's package and pyproject.toml (all lint-imports reads)."""
    for package in _packages():
        shutil.copytree(ROOT / package, to / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")


def _lint_imports(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=where, capture_output=True, text=True,
                          env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_the_layers_contract_is_kept(tmp_path):
    _copy_project(tmp_path)

    run = _lint_imports(tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "Kyodaku layers KEPT" in run.stdout


def test_an_upward_import_from_the_audit_log_into_consent_breaks_the_contract(tmp_path):
    _copy_project(tmp_path)
    (tmp_path / "audit" / "scratch_upward.py").write_text("from consent.models import Declaration  # noqa\n")

    run = _lint_imports(tmp_path)

    assert run.returncode == 1, run.stdout + run.stderr
    assert "Kyodaku layers BROKEN" in run.stdout
    assert "audit.scratch_upward -> consent.models" in run.stdout
