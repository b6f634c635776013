#!/usr/bin/env python3
"""CI: audit the installed, pinned requirements (requirements-dev.txt, which includes requirements.txt, and what
they pulled in) for known vulnerabilities with pip-audit.

Exit 1 when a vulnerability is found. When the vulnerability service cannot be reached, or answers for none of the
packages (a mirror that serves packages but not the vulnerability data), say so loudly and exit 0: CI must not fail
for that alone, and must not pretend the audit passed either.

    .venv/bin/python .ci/audit_dependencies.py
"""
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Substrings of pip-audit's errors that mean "the service was not reached", as opposed to a broken audit.
UNREACHABLE = ("ConnectionError", "ProxyError", "ConnectTimeout", "ReadTimeout", "Max retries exceeded",
               "NameResolutionError", "Temporary failure in name resolution", "Network is unreachable",
               "ServiceError")


@dataclass
class Verdict:
    exit_code: int
    lines: list[str] = field(default_factory=list)


def judge(returncode: int, report: dict | None, stderr: str) -> Verdict:
    """What CI does with one pip-audit run: its exit code, its JSON report (None if it wrote none), its stderr."""
    if report is None:
        if any(marker in stderr for marker in UNREACHABLE):
            last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
            return Verdict(0, ["pip-audit: NOT AUDITED, the vulnerability service could not be reached "
                               f"(not a failure of this build): {last[:300]}"])
        return Verdict(2, ["pip-audit failed without a report:", stderr[-2000:]])
    dependencies = report.get("dependencies", [])
    found = [(d["name"], d.get("version", "?"), v) for d in dependencies for v in d.get("vulns", [])]
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = len(dependencies) - len(skipped)
    if found:
        lines = [f"pip-audit: {len(found)} known vulnerabilit{'y' if len(found) == 1 else 'ies'} in the pinned "
                 "requirements:"]
        for name, version, vuln in found:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            lines.append(f"  {name} {version}: {vuln.get('id')} ({', '.join(vuln.get('aliases') or [])}); "
                         f"fixed in: {fixes}")
        return Verdict(1, lines)
    if dependencies and audited == 0:
        return Verdict(0, [f"pip-audit: NOT AUDITED, the vulnerability service answered for none of the "
                           f"{len(dependencies)} packages (not a failure of this build); first reason: "
                           f"{skipped[0]['skip_reason']}"])
    if returncode != 0:
        return Verdict(2, [f"pip-audit exited {returncode} without naming a vulnerability:", stderr[-2000:]])
    lines = [f"pip-audit: {audited} packages audited, no known vulnerability"]
    if skipped:
        lines.append(f"  ({len(skipped)} not audited: {', '.join(d['name'] for d in skipped)})")
    return Verdict(0, lines)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        run = subprocess.run(
            [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--skip-editable", "--timeout", "20",
             "--format", "json", "--output", str(out)],
            capture_output=True, text=True,
        )
        report = json.loads(out.read_text()) if out.exists() and out.stat().st_size else None
    verdict = judge(run.returncode, report, run.stderr)
    print("\n".join(verdict.lines), file=sys.stderr if verdict.exit_code else sys.stdout)
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main())
