"""The bulk write's one column list per table (claims.copying.NEW_ROWS) against the models it writes."""
import pytest

from claims.copying import NEW_ROWS, copy_texts
from claims.merging import ChunkPlan
from claims.reads import Row


@pytest.mark.parametrize("model", list(NEW_ROWS), ids=lambda model: model.__name__)
def test_every_column_of_the_table_is_in_its_copy_list(model):
    """Rule: a column added to a model without a database default must be written by the bulk path too (COPY would
    fail, or leave it to a default the services do not use); the list names each column once."""
    _attribute, columns = NEW_ROWS[model]
    names = [name for name, _kind in columns]
    assert sorted(names) == sorted(f.attname for f in model._meta.concrete_fields)
    assert len(set(names)) == len(names)


def test_copy_text_escapes_text_cells_and_writes_null_for_none(db):
    from datetime import UTC, datetime

    at = datetime(2026, 4, 1, tzinfo=UTC)
    plan = ChunkPlan(at=at)
    plan.works_new.append(Row(id="w1", holder_id="h1", work_ref="A\tB", title="line\nbreak", original_title="\\",
                              kind="film", filed_by_agent_id=None, created_at=at, updated_at=at))
    [(statement, text)] = copy_texts(plan)
    assert statement.startswith('COPY "registry_work" ("id", "holder_id", "work_ref"')
    cells = text.decode().rstrip("\n").split("\t")
    assert cells[:7] == ["w1", "h1", "A\\tB", "line\\nbreak", "\\\\", "film", "\\N"]


def test_a_rows_declarations_are_audited_with_their_own_snapshots(db):
    """Rule: the audit log records each declaration a CSV row files with the same snapshot the services record
    (`declaration_snapshot`), although the planner builds a row's later ones from its first (issue 15 item 2);
    a holder filing two purposes in three jurisdictions gets six snapshots, each naming its own slot."""
    from datetime import UTC, datetime

    from audit.services import PendingEvent
    from claims.merging import _plan_declarations
    from claims.validation import ClaimRow
    from consent.audit_tracking import declaration_snapshot

    at = datetime(2026, 4, 1, tzinfo=UTC)
    plan = ChunkPlan(at=at, filed_by_id=None)
    row = ClaimRow(line=2, holder_id="h1", agent_id="a1", scope="work", work_ref="BK-1", title="T", original_title="",
                   kind="book", slots=[(p, j) for p in ("train-ai", "search") for j in ("JP", "EU", "*")],
                   consent="reserve", license_url="https://l.example/", conditions="c",
                   effective_from=None, effective_until=datetime(2027, 1, 1, tzinfo=UTC))
    _plan_declarations(plan, row, "w1")
    filed = [event.after for event in plan.events.flat(make=PendingEvent._make) if event.action == "declaration.file"]
    assert filed == [declaration_snapshot(d) for d in plan.declarations_new]
    assert [(s["purpose"], s["jurisdiction"]) for s in filed] == row.slots
    assert len({id(s) for s in filed}) == 6  # each event its own dict
