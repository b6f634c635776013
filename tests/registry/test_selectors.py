"""Registry selectors shared with consent's decision path: open disputes of many works, the `any_of` lookup."""
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from registry.models import Work
from registry.selectors import work_open_disputes
from registry.services import dispute_resolve, work_register

pytestmark = pytest.mark.django_db

ISBN = "isbn:978-4-9901661-3-7"
ISSN = "issn:0317-8471"


def test_open_disputes_of_many_works_cost_one_query_and_answer_ids_as_text(studio_kaze, hoshi_pub, operator,
                                                                           django_assert_num_queries):
    before = timezone.now()
    disputed = work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind", identifiers=[ISBN]).work
    resolved = work_register(holder=studio_kaze.holder, work_ref="KZ-2", title="Rain", identifiers=[ISSN]).work
    quiet = work_register(holder=studio_kaze.holder, work_ref="KZ-3", title="Snow").work
    work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Art book", identifiers=[ISBN])
    claim = work_register(holder=hoshi_pub.holder, work_ref="HP-2", title="Poster", identifiers=[ISSN])
    opened = timezone.now()
    dispute_resolve(dispute=claim.disputes[0], resolution="kept", actor=operator)

    ids = [disputed.pk, resolved.pk, quiet.pk, *(uuid.uuid4() for _ in range(2000))]
    with django_assert_num_queries(1):
        now = work_open_disputes(work_ids=ids, at=timezone.now())
    assert now == {str(disputed.pk)}
    assert work_open_disputes(work_ids={str(pk) for pk in ids}, at=opened) == {str(disputed.pk), str(resolved.pk)}
    assert work_open_disputes(work_ids=ids, at=before - timedelta(seconds=1)) == set()
    with django_assert_num_queries(0):
        assert work_open_disputes(work_ids=[], at=opened) == set()


def test_any_of_matches_exactly_and_never_truncates(studio_kaze):
    work = work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind").work
    assert list(Work.objects.filter(work_ref__any_of=["KZ-1", "KZ-9"]).values_list("pk", flat=True)) == [work.pk]
    assert not Work.objects.filter(work_ref__any_of=["KZ-1" + "x" * 500]).exists()
    assert not Work.objects.filter(pk__any_of=[]).exists()
    assert Work.objects.filter(holder__any_of=[str(studio_kaze.holder.pk)]).count() == 1
