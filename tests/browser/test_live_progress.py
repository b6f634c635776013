"""The upload page's progress bar follows a real Celery worker: it shows a part done while the file is processed,
then the end state, polling the admin's JSON status view (no page reload)."""
import pytest
from django.db import transaction

from claims.models import Submission
from registry.models import Work
from registry.services import work_register
from tests.browser.conftest import log_in
from tests.claims.helpers import isbn13
from tests.claims.test_worker import Worker, broker, media  # noqa: F401  (fixtures: the real broker, a media dir)

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the live server; see conftest
    pytest.mark.browser, pytest.mark.worker, pytest.mark.redis, pytest.mark.postgres,
]

ROWS = 6000


def test_progress_bar_moves_while_the_worker_runs(new_page, screenshot, studio_kaze, broker, media,  # noqa: F811
                                                  tmp_path):
    lines = ["holder,work_ref,title,kind,identifiers,purpose,jurisdiction,consent"]
    lines += [f"studio-kaze,KZ-{i},Title {i},book,isbn:{isbn13(i)},train-ai,JP,reserve" for i in range(ROWS)]
    claims = tmp_path / "big.csv"
    claims.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The file's last work already exists under another title, and this test holds its row locked until the bar
    # has shown a part done: the worker writes every chunk before the last, then waits at the last one's update.
    # Without it a quiet machine can import the whole file between two polls of the page (one a second).
    last = f"KZ-{ROWS - 1}"
    work_register(holder=studio_kaze.holder, work_ref=last, title="Before the import")

    worker = Worker(media, chunk_rows=200).start()
    try:
        page = new_page()
        log_in(page, "kaze-editor")
        with transaction.atomic():
            Work.objects.select_for_update().get(holder=studio_kaze.holder, work_ref=last)
            page.goto("/claims/submission/add/")
            page.set_input_files("#id_file", str(claims))
            page.click("input[name=_save]")
            page.wait_for_selector("#submission-progress")
            # Part done: the bar has a total and a value strictly between 0 and it, without reloading the page.
            # Predicates are functions, not expressions: Playwright evals an expression in the page, which the
            # admin's Content-Security-Policy (no 'unsafe-eval') refuses.
            page.wait_for_function(
                "() => { const bar = document.getElementById('progress-bar');"
                " return bar.hasAttribute('value') && bar.value > 0 && bar.value < bar.max; }", timeout=120_000)
            part = int(float(page.get_attribute("#progress-bar", "value")))
            screenshot(page, "07-claims-in-progress")
        page.wait_for_function("() => document.getElementById('submission-status').dataset.status === 'done'",
                               timeout=180_000)
        assert 0 < part <= ROWS - 200  # the last chunk waited for the lock
        assert page.inner_text('[data-count="rows_ok"]') == str(ROWS)
        assert page.get_attribute("#progress-bar", "value") == str(ROWS)
        assert page.is_visible("#errors-link a")
        assert Submission.objects.get().status == "done"
        screenshot(page, "08-claims-done-by-worker")
    finally:
        worker.stop()
