"""Every change made through the services lands in the hash-chained audit log, and the chain verifies."""
import pytest
from django.db import IntegrityError, transaction

from audit.models import AuditEvent, AuditHead
from audit.selectors import audit_verify
from consent.services import declaration_file, declaration_revoke, rule_set
from registry.services import dispute_resolve, mandate_create, work_register

pytestmark = pytest.mark.django_db


def test_a_day_of_filing_leaves_a_chain_that_verifies(studio_kaze, hoshi_pub, collective, tsubasa, operator):
    work = work_register(holder=tsubasa.holder, work_ref="TB-1", title="Sky", identifiers=["isbn:9780306406157"],
                         actor=collective.user, agent=collective.holder).work
    declaration, _ = declaration_file(holder=tsubasa.holder, scope="work", work=work, purpose="train-ai",
                                      jurisdiction="*", consent="reserve", actor=collective.user,
                                      agent=collective.holder)
    declaration_revoke(declaration=declaration, actor=collective.user)
    claim = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Sky book",
                          identifiers=["isbn:9780306406157"], actor=hoshi_pub.user)
    dispute_resolve(dispute=claim.disputes[0], resolution="transferred", actor=operator)
    rule_set(jurisdiction="BR", regime="opt-out", basis="Hypothetical", actor=operator)
    mandate_create(agent=collective.holder, principal=studio_kaze.holder, actor=operator)

    assert audit_verify() == []
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    head = AuditHead.objects.get()
    assert (head.seq, head.hash) == (events[-1].seq, events[-1].hash)


def test_audit_events_name_the_actor_by_id_not_by_personal_data(studio_kaze):
    work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind", actor=studio_kaze.user)
    event = AuditEvent.objects.get(action="work.register")
    assert event.actor == f"user:{studio_kaze.user.pk}"
    assert studio_kaze.user.email not in str(event.after)


@pytest.mark.postgres
def test_postgres_refuses_to_rewrite_an_audit_event(studio_kaze):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=1).update(action="forged")
