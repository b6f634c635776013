"""CI's dependency audit (.ci/audit_dependencies.py): a found vulnerability fails the build; an unreachable
vulnerability service is reported as "not audited" and does not fail it alone."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("audit_dependencies", ROOT / ".ci" / "audit_dependencies.py")
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)

CLEAN = {"name": "django", "version": "5.2.19", "vulns": []}
VULNERABLE = {"name": "django", "version": "5.2.19", "vulns": [
    {"id": "PYSEC-2026-1", "fix_versions": ["5.2.20"], "aliases": ["CVE-2026-0001"], "description": "..."}]}
SKIPPED = {"name": "amqp", "skip_reason": "Dependency not found on PyPI and could not be audited: amqp (5.4.2)"}


def test_a_known_vulnerability_fails_ci_and_names_package_id_and_fix():
    verdict = audit.judge(1, {"dependencies": [CLEAN, VULNERABLE, SKIPPED], "fixes": []}, "")
    assert verdict.exit_code == 1
    text = "\n".join(verdict.lines)
    assert "django 5.2.19: PYSEC-2026-1 (CVE-2026-0001)" in text and "5.2.20" in text


def test_a_vulnerability_fails_ci_even_when_other_packages_could_not_be_audited():
    verdict = audit.judge(1, {"dependencies": [SKIPPED, VULNERABLE]}, "")
    assert verdict.exit_code == 1


def test_clean_audit_passes_and_says_how_many_packages_it_checked():
    verdict = audit.judge(0, {"dependencies": [CLEAN, SKIPPED]}, "")
    assert verdict.exit_code == 0
    assert "1 packages audited, no known vulnerability" in verdict.lines[0] and "amqp" in verdict.lines[1]


def test_unreachable_service_is_reported_as_not_audited_without_failing_ci():
    stderr = ("Traceback ...\nrequests.exceptions.ConnectionError: HTTPSConnectionPool(host='x', port=443): "
              "Max retries exceeded with url: /pypi/amqp/5.4.2/json\n")
    verdict = audit.judge(1, None, stderr)
    assert verdict.exit_code == 0 and "NOT AUDITED" in verdict.lines[0] and "could not be reached" in verdict.lines[0]


def test_a_service_that_answers_for_no_package_is_not_a_pass_but_not_a_failure():
    verdict = audit.judge(0, {"dependencies": [SKIPPED, {**SKIPPED, "name": "anyio"}]}, "")
    assert verdict.exit_code == 0 and "NOT AUDITED" in verdict.lines[0] and "none of the 2 packages" in verdict.lines[0]


def test_pip_audit_breaking_for_another_reason_fails_ci():
    assert audit.judge(2, None, "pip_audit: error: unrecognized arguments: --nonsense").exit_code == 2
    assert audit.judge(1, {"dependencies": [CLEAN]}, "something odd").exit_code == 2
