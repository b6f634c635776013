"""Issue 12 items 1 and 2: whom a claims file may file for is the submitting user's own right, asked when the rows
are processed (per chunk), never borrowed from a principal's mandates."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from claims import services as claims_services
from claims.services import claims_submission_create, claims_submission_process
from registry.models import Mandate, Membership, Work
from registry.services import mandate_create, mandate_end
from tests.factories import HolderFactory

from .conftest import errors_of
from .helpers import csv_text

pytestmark = pytest.mark.django_db


def _queued(who, text: str, *, holder_code=None):
    """A submission accepted but not processed yet (its on-commit dispatch is not run)."""
    upload = SimpleUploadedFile("claims.csv", text.encode(), content_type="text/csv")
    return claims_submission_create(user=who.user, file=upload, holder_code=holder_code)


def test_collective_filing_as_its_member_cannot_reach_the_members_own_principals(collective, submit):
    """The collective (jaa) has a mandate for a member collective; that member has one for a studio. jaa's user
    files "as" the member: rows for the member's principal are refused, not filed under the member's name."""
    member = HolderFactory(code="anime-guild", kind="collective")
    studio = HolderFactory(code="small-studio", kind="studio")
    mandate_create(agent=collective.holder, principal=member)
    mandate_create(agent=member, principal=studio)
    text = csv_text("holder,work_ref,title", "small-studio,SS-1,Borrowed rights", "anime-guild,AG-1,Member's own")
    submission = submit(collective, text, holder_code="anime-guild")
    assert errors_of(submission) == [(2, "holder", "not-authorized-for-holder")]
    assert not Work.objects.filter(holder=studio).exists()
    assert Work.objects.get(work_ref="AG-1").filed_by_agent == collective.holder


def test_collective_filing_as_its_member_names_that_member_alone(collective, tsubasa, submit):
    text = csv_text("holder,work_ref,title", "jaa,JAA-1,The collective's own", "tsubasa-anime,TA-1,Wings")
    submission = submit(collective, text, holder_code="tsubasa-anime")
    assert errors_of(submission) == [(2, "holder", "not-authorized-for-holder")]
    assert Work.objects.get(work_ref="TA-1").filed_by_agent == collective.holder


def test_collective_mandate_ended_after_upload_files_nothing_for_the_member(collective, tsubasa,
                                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        submission = _queued(collective, csv_text("holder,work_ref,title", "tsubasa-anime,TA-1,Wings"))
    mandate_end(mandate=Mandate.objects.get(agent=collective.holder, principal=tsubasa.holder))
    submission = claims_submission_process(submission_id=submission.pk)
    assert errors_of(submission) == [(2, "holder", "not-authorized-for-holder")]
    assert not Work.objects.exists()


def test_studio_kaze_editor_lowered_to_viewer_after_upload_files_nothing(studio_kaze,
                                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        submission = _queued(studio_kaze, csv_text("holder,work_ref,title", "studio-kaze,KZ-1,Wind"))
    Membership.objects.filter(user=studio_kaze.user).update(role="viewer")
    submission = claims_submission_process(submission_id=submission.pk)
    assert (submission.rows_ok, submission.rows_failed) == (0, 1)
    assert errors_of(submission) == [(2, "holder", "not-authorized-for-holder")]
    assert not Work.objects.exists()


def test_collective_mandate_ending_mid_file_stops_the_following_chunks(collective, tsubasa, submit, settings,
                                                                       monkeypatch):
    """Rights are asked again for every chunk: the mandate ends while the first chunk is processed."""
    settings.KYODAKU_CLAIMS_CHUNK_ROWS = 1
    real = claims_services._filing_rights
    asked = []

    def rights_then_end_mandate(submission):
        rights = real(submission)
        asked.append(sorted(rights.holders))
        if len(asked) == 1:
            Mandate.objects.filter(agent=collective.holder).update(valid_until=timezone.now())
        return rights

    monkeypatch.setattr(claims_services, "_filing_rights", rights_then_end_mandate)
    text = csv_text("holder,work_ref,title", "tsubasa-anime,TA-1,One", "tsubasa-anime,TA-2,Two")
    submission = submit(collective, text)
    assert asked == [["jaa", "tsubasa-anime"], ["jaa"]]
    assert errors_of(submission) == [(3, "holder", "not-authorized-for-holder")]
    assert list(Work.objects.values_list("work_ref", flat=True)) == ["TA-1"]
