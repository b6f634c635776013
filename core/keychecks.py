"""Foreign keys checked once per statement instead of once per row (issue 15 item 2).

A foreign-key constraint checks every inserted row on its own: one query and one key-share row lock per key, 12
per CSV row of a claims import (each work's holder, each identifier's work, each declaration's holder and work),
28 % of the writer backend's CPU. For the tables a bulk import writes, the same invariant is kept by triggers
built here, in the database, from migrations:

- on the referencing table, a statement-level `AFTER INSERT` trigger with a transition table: one query per key
  column locks every distinct referenced row (`FOR KEY SHARE`, as the constraint's own check does) and one finds
  a key with no row, for all the statement's rows at once (a `COPY` of 10,000 rows is one statement); an update
  that changes a key is checked row by row (`WHEN` the key changed: never on the bulk path);
- on the referenced table, statement-level `AFTER DELETE` and `AFTER TRUNCATE` guards that refuse to remove a
  row something still refers to (the keys are `PROTECT` in Django: no cascade to keep), and a row-level guard
  that refuses to change a referenced id. A guard probes each deleted id with a plan made for that id (`_probe`),
  through an index on every key column (`filed_by_agent_id`'s is partial: the rows that have one).

Concurrency, reasoned out in docs/performance.md ("Set-based key checks"): an insert locks the referenced rows
before it looks for a missing one, so a delete of them waits for the inserting transaction, and the delete's
guard then runs its query on a fresh snapshot (READ COMMITTED, as Django runs) and sees the new rows. Under
REPEATABLE READ or SERIALIZABLE a delete's snapshot is older than its lock wait, so the guard refuses to delete
there at all. Every error is SQLSTATE 23503 (`foreign_key_violation`), which Django raises as IntegrityError,
as it did for the constraint.

SQLite (the embedded default) gets row-level triggers that refuse an orphan on insert and update (it has no
transition tables, and no concurrent writers); a delete there is guarded by Django's PROTECT only (see
`sqlite_forward`). Django rebuilds a SQLite table to alter it, dropping its triggers: a migration that alters
one of these tables must call `sqlite_forward` again (tests/registry/test_keychecks.py checks the triggers are
in place after `migrate`).

The SQL is built from plain table and column names (migrations pass their own strings, as of when they ran).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Reference", "postgresql_forward", "postgresql_backward", "postgresql_guard_functions",
           "postgresql_replace_checks", "sqlite_forward", "sqlite_backward", "migration_functions",
           "guard_migration_functions", "replacing_functions"]


@dataclass(frozen=True)
class Reference:
    """`table.column` refers to `target.id`."""

    table: str
    column: str
    target: str


def _check_name(table: str) -> str:
    return f"{table}_keys_exist"


def _guard_name(table: str, target: str) -> str:
    return f"{target}_kept_for_{table}"


def _by(references, attribute):
    grouped: dict[str, list[Reference]] = {}
    for reference in references:
        grouped.setdefault(getattr(reference, attribute), []).append(reference)
    return grouped


def _missing(reference: Reference, rows: str) -> str:
    """Lock the distinct referenced rows, then raise if a key has none. Locking first: a row found by the check
    cannot be deleted before this transaction ends.

    Rows whose version this transaction wrote (`xmin` is its own id) are not locked: a row it inserted is seen by
    no one else until it commits, and a row it updated is already locked by that update until then. A claims
    chunk's identifiers and declarations refer to the works the same chunk inserts, so this skips most locks (each
    one a heap write and a WAL record).

    Both queries probe the referenced table's primary key once per distinct key, whatever the table's size: the
    lock through a `LATERAL` sub-select (a locking clause keeps it from being flattened into a join), the check
    through a correlated `NOT EXISTS` (`OFFSET 0` keeps it a per-key probe); the functions run with
    `enable_seqscan` off, so that a plan made while the referenced table is tiny (PL/pgSQL keeps a session's plan:
    a claims import plans its checks at its first chunk) is an index probe too, and stays right as the table
    grows (the transition table is a tuplestore scan, which the setting leaves alone). Written as
    `t.id IN (SELECT ...)`, the lock was planned as a hash join over a sequential scan of the whole referenced
    table, once per statement: a claims import's every chunk read every work written before it (401,000,000 rows
    read for a 1,000,000-row import, docs/performance.md), and into a registry of millions of works each chunk
    read all of them."""
    r = reference
    keys = f'SELECT DISTINCT n."{r.column}" AS id FROM {rows} n WHERE n."{r.column}" IS NOT NULL'
    return f"""
  PERFORM 1 FROM ({keys}) k CROSS JOIN LATERAL (
    SELECT 1 FROM "{r.target}" t WHERE t.id = k.id AND t.xmin <> pg_current_xact_id()::xid FOR KEY SHARE OF t) x;
  SELECT k.id::text INTO missing FROM ({keys}) k
   WHERE NOT EXISTS (SELECT 1 FROM "{r.target}" t WHERE t.id = k.id OFFSET 0)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'insert or update on table "{r.table}" violates foreign key: {r.column} % '
      'is not present in table "{r.target}"', missing
      USING ERRCODE = 'foreign_key_violation', TABLE = '{r.table}', COLUMN = '{r.column}';
  END IF;"""


def _check_functions(table: str, references: list[Reference]) -> str:
    """The two check functions of a referencing table (statement level, and row level for updates), as
    `CREATE OR REPLACE`: what `postgresql_replace_checks` re-installs when their body changes."""
    name = _check_name(table)
    body = "".join(_missing(r, "new_rows") for r in references)
    row_body = "".join(_missing(r, "(SELECT NEW.*) AS") for r in references)
    return f"""
CREATE OR REPLACE FUNCTION "{name}"() RETURNS trigger LANGUAGE plpgsql SET enable_seqscan TO off AS $$
DECLARE missing text;
BEGIN{body}
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION "{name}_row"() RETURNS trigger LANGUAGE plpgsql SET enable_seqscan TO off AS $$
DECLARE missing text;
BEGIN{row_body}
  RETURN NULL;
END $$;
"""


def _statement_check(table: str, references: list[Reference]) -> str:
    name = _check_name(table)
    changed = " OR ".join(f'OLD."{r.column}" IS DISTINCT FROM NEW."{r.column}"' for r in references)
    columns = ", ".join(f'"{r.column}"' for r in references)
    return _check_functions(table, references) + f"""
CREATE TRIGGER "{name}" AFTER INSERT ON "{table}" REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "{name}"();
CREATE TRIGGER "{name}_update" AFTER UPDATE OF {columns} ON "{table}"
  FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION "{name}_row"();
"""


# A delete of more rows than this is checked by one set-based query over them all (a plan for each id would cost
# more than it saves), of fewer by one query planned for each id.
PER_ID_PROBES = 100


def _probe(table: str, references: list[Reference]) -> str:
    """Whether a row of `table` refers to the id $1, as SQL text for plpgsql's EXECUTE ... USING.

    EXECUTE plans it for the id at hand. A plan made once for any id (a transition-table subquery, or plpgsql's
    cached plan after five calls) guesses how many rows refer to an id from the column's number of distinct values;
    where few holders own most declarations that guess is millions, a sequential scan looks cheapest for an EXISTS,
    and deleting a holder that nothing refers to read every row (docs/performance.md: 1.7 s on 4,000,000
    declarations of one holder). Planned for the id, a holder absent from the column's common values is an index
    lookup."""
    text = " OR ".join(f'EXISTS (SELECT 1 FROM "{table}" r WHERE r."{r.column}" = $1)' for r in references)
    return "SELECT " + text.replace("'", "''")


def _guards(table: str, target: str, references: list[Reference]) -> str:
    name = _guard_name(table, target)
    return _guard_functions(table, target, references) + f"""
CREATE TRIGGER "{name}" AFTER DELETE ON "{target}" REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "{name}"();
CREATE TRIGGER "{name}_truncate" AFTER TRUNCATE ON "{target}" FOR EACH STATEMENT EXECUTE FUNCTION "{name}"();
CREATE TRIGGER "{name}_id" BEFORE UPDATE OF id ON "{target}"
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION "{name}_id"();
"""


def _guard_functions(table: str, target: str, references: list[Reference]) -> str:
    name = _guard_name(table, target)
    probe = _probe(table, references)
    held = " OR ".join(f'EXISTS (SELECT 1 FROM "{table}" r WHERE r."{r.column}" = o.id)' for r in references)
    held_any = " OR ".join(f'EXISTS (SELECT 1 FROM "{table}" r WHERE r."{r.column}" IS NOT NULL)' for r in references)
    refused = (f"'update or delete on table \"{target}\" violates foreign key: id % is still referenced from "
               f"table \"{table}\"'")
    return f"""
CREATE OR REPLACE FUNCTION "{name}"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE candidate "{target}".id%TYPE; referenced boolean; held text;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF {held_any} THEN
      RAISE EXCEPTION 'truncate of table "{target}" violates foreign key: table "{table}" still refers to it'
        USING ERRCODE = 'foreign_key_violation', TABLE = '{target}';
    END IF;
    RETURN NULL;
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    -- The check below must see rows committed while this delete waited for their inserters' key-share locks.
    RAISE EXCEPTION 'deleting from table "{target}" needs READ COMMITTED: table "{table}" refers to it'
      USING ERRCODE = 'foreign_key_violation', TABLE = '{target}';
  END IF;
  IF (SELECT count(*) FROM (SELECT 1 FROM old_rows LIMIT {PER_ID_PROBES + 1}) few) <= {PER_ID_PROBES} THEN
    -- A few rows (a holder, a work): each id probed with a plan made for it (see core.keychecks._probe).
    FOR candidate IN SELECT o.id FROM old_rows o LOOP
      EXECUTE '{probe}' INTO referenced USING candidate;
      IF referenced THEN
        RAISE EXCEPTION {refused}, candidate USING ERRCODE = 'foreign_key_violation', TABLE = '{target}';
      END IF;
    END LOOP;
    RETURN NULL;
  END IF;
  SELECT o.id::text INTO held FROM old_rows o WHERE {held} LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION {refused}, held USING ERRCODE = 'foreign_key_violation', TABLE = '{target}';
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION "{name}_id"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE referenced boolean;
BEGIN
  EXECUTE '{probe}' INTO referenced USING OLD.id;
  IF referenced THEN
    RAISE EXCEPTION {refused}, OLD.id USING ERRCODE = 'foreign_key_violation', TABLE = '{target}';
  END IF;
  RETURN NEW;
END $$;
"""


def postgresql_forward(references: list[Reference]) -> str:
    """The triggers that keep `references` (all of one referencing table) on PostgreSQL."""
    (table, own), = _by(references, "table").items()
    return _statement_check(table, own) + "".join(
        _guards(table, target, refs) for target, refs in _by(references, "target").items())


def postgresql_guard_functions(references: list[Reference]) -> str:
    """The delete guards' functions alone (CREATE OR REPLACE), for a migration that changes how they check on a
    database whose triggers already call them."""
    (table, _own), = _by(references, "table").items()
    return "".join(_guard_functions(table, target, refs) for target, refs in _by(references, "target").items())


def postgresql_replace_checks(references: list[Reference]) -> str:
    """The check functions of `references` (all of one referencing table) again, in place: for a migration that
    changes how they check, on a database whose triggers are already installed (the triggers call them by name)."""
    (table, own), = _by(references, "table").items()
    return _check_functions(table, own)


def postgresql_backward(references: list[Reference]) -> str:
    (table, _own), = _by(references, "table").items()
    name = _check_name(table)
    statements = [f'DROP TRIGGER IF EXISTS "{name}" ON "{table}";',
                  f'DROP TRIGGER IF EXISTS "{name}_update" ON "{table}";',
                  f'DROP FUNCTION IF EXISTS "{name}"();', f'DROP FUNCTION IF EXISTS "{name}_row"();']
    for target in _by(references, "target"):
        guard = _guard_name(table, target)
        statements += [f'DROP TRIGGER IF EXISTS "{guard}" ON "{target}";',
                       f'DROP TRIGGER IF EXISTS "{guard}_truncate" ON "{target}";',
                       f'DROP TRIGGER IF EXISTS "{guard}_id" ON "{target}";',
                       f'DROP FUNCTION IF EXISTS "{guard}"();', f'DROP FUNCTION IF EXISTS "{guard}_id"();']
    return "\n".join(statements)


def sqlite_forward(references: list[Reference]) -> list[str]:
    """Row-level triggers on SQLite that refuse an orphan key, one statement each (sqlite3 runs one at a time).

    Only the referencing side: SQLite's triggers cannot be deferred, and Django's `flush` (every
    TransactionTestCase) deletes holders before works, relying on the constraints' checks waiting for the commit.
    Deleting a referenced holder or work there is refused by Django's PROTECT, not by the database."""
    statements = []
    for r in references:
        name = f"{r.table}_{r.column}_exists"
        missing = (f'NEW."{r.column}" IS NOT NULL '
                   f'AND NOT EXISTS (SELECT 1 FROM "{r.target}" WHERE id = NEW."{r.column}")')
        fail = f"SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {r.table}.{r.column}');"
        statements += [
            f'CREATE TRIGGER "{name}_insert" BEFORE INSERT ON "{r.table}" WHEN {missing} BEGIN {fail} END',
            f'CREATE TRIGGER "{name}_update" BEFORE UPDATE OF "{r.column}" ON "{r.table}" WHEN {missing} '
            f"BEGIN {fail} END",
        ]
    return statements


def sqlite_backward(references: list[Reference]) -> list[str]:
    return [f'DROP TRIGGER IF EXISTS "{r.table}_{r.column}_exists_{suffix}"'
            for r in references for suffix in ("insert", "update")]


def _apply(schema_editor, groups: list[list[Reference]], *, install: bool) -> None:
    """Install (or drop) the checks of each group of references (one referencing table each) on the migration's
    database: statement-level triggers on PostgreSQL, row-level ones on SQLite, nothing elsewhere."""
    vendor = schema_editor.connection.vendor
    for references in groups:
        if vendor == "postgresql":
            statements = [(postgresql_forward if install else postgresql_backward)(references)]
        elif vendor == "sqlite":
            statements = (sqlite_forward if install else sqlite_backward)(references)
        else:
            statements = []
        for statement in statements:
            schema_editor.execute(statement, params=None)


def _replacing_on_postgresql(groups: list[list[Reference]], build):
    """(forward, backward) for a `RunPython` that executes `build(references)` for each group on PostgreSQL (other
    databases have no such functions); backward leaves what is there."""
    def forward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for references in groups:
                schema_editor.execute(build(references), params=None)

    def backward(apps, schema_editor):
        pass

    return forward, backward


def guard_migration_functions(groups: list[list[Reference]]):
    """(forward, backward) for a `RunPython` that replaces the delete guards' functions of `groups` with this
    module's (PostgreSQL; SQLite has no guards). Backward keeps them: they refuse exactly what the old ones did."""
    return _replacing_on_postgresql(groups, postgresql_guard_functions)


def replacing_functions(groups: list[list[Reference]]):
    """(forward, backward) for a migration's `RunPython` that re-installs the check functions of `groups` as this
    module writes them now (PostgreSQL; other databases have no such functions). Backward leaves them: every
    version checks the same invariant, and the migration that installed them drops them."""
    return _replacing_on_postgresql(groups, postgresql_replace_checks)


def migration_functions(groups: list[list[Reference]]):
    """(forward, backward) for a migration's `RunPython` that installs the checks of `groups`."""
    def forward(apps, schema_editor):
        _apply(schema_editor, groups, install=True)

    def backward(apps, schema_editor):
        _apply(schema_editor, groups, install=False)

    return forward, backward
