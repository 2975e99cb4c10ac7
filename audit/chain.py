"""Tamper evidence for the audit log, on PostgreSQL.

Every audit event belongs to a chain: the events of its action, or for events without one (policy
changes, agents and tokens, pruning) the global chain. As a row is inserted, a trigger numbers it
(`seq`, from 1), copies the hash of the chain's previous event (`prev_hash`) and sets

    hash = sha256(canonical JSON of the row, its seq and prev_hash included)

Writers of one action's events already hold that action's row lock (every change of an action
takes it), which orders its chain; the unique (action_id, seq) index turns a writer that did not
into an error rather than a fork. The global chain, written rarely, has an advisory lock of its
own. No lock is shared by writers of different actions.

The canonical JSON is built by PostgreSQL from the row's columns (CANONICAL_SQL): jsonb's text form
is one fixed rendering of a value (sorted keys, fixed separators), timestamps become integer
microseconds and floats exact numerics, so the same row always gives the same text. Every
writer gets this, whether it inserts through the ORM, in bulk, or in the SLA sweep's SQL.

Other triggers refuse UPDATE, DELETE and TRUNCATE of the table: the application only inserts.
Retention (audit.anchors.audit_prune) may delete whole anchored segments, saying so with
`hitl.audit_prune_through`; a test database may be truncated between tests with `hitl.audit_truncate`.

Editing a row is found by recomputing its hash, deleting one by the gap in its chain's `seq`,
inserting one by the broken link to its neighbour; signed anchors (audit.anchors) cover the
rest, such as a chain re-hashed after an edit. audit.verify checks it all.
"""

from django.db import connection

TABLE = "hitl_auditevent"
LOCK_NAMESPACE = 1751741556  # advisory-lock class of the audit log's locks ("hitl" in ASCII)

# The row as canonical JSON text; {r} is the row's alias. Only pg_catalog functions, so that a
# function defined later cannot change what verification computes.
CANONICAL_SQL = """pg_catalog.jsonb_build_object(
    'id', {r}.id, 'seq', {r}.seq, 'prev_hash', {r}.prev_hash,
    'created_at_us', (extract(epoch FROM {r}.created_at) * 1000000)::bigint,
    'event_type', {r}.event_type, 'actor_type', {r}.actor_type, 'actor_label', {r}.actor_label,
    'request_id', {r}.request_id, 'action_id', {r}.action_id, 'agent_id', {r}.agent_id,
    'reviewer_id', {r}.reviewer_id, 'action_type', {r}.action_type,
    'agent_confidence', {r}.agent_confidence::numeric, 'routing_tier', {r}.routing_tier,
    'decision', {r}.decision, 'time_to_decision_seconds', {r}.time_to_decision_seconds::numeric,
    'modified_action', {r}.modified_action, 'before', {r}.before, 'after', {r}.after, 'data', {r}.data
)::text"""

HASH_SQL = "encode(pg_catalog.sha256(convert_to({canonical}, 'UTF8')), 'hex')"


def _chain_trigger_sql() -> str:
    return f"""
CREATE OR REPLACE FUNCTION hitl_audit_chain() RETURNS trigger LANGUAGE plpgsql
-- The chain's last event is found through the (action_id, seq) index, never by a scan, even when
-- the statistics say the table is empty (a new database): a scan would make a bulk insert quadratic.
SET enable_seqscan = off AS $$
DECLARE
    last record;
BEGIN
    IF NEW.action_id IS NULL THEN
        PERFORM pg_advisory_xact_lock({LOCK_NAMESPACE}, 0);
        SELECT e.seq, e.hash INTO last FROM {TABLE} e WHERE e.action_id IS NULL ORDER BY e.seq DESC LIMIT 1;
    ELSE
        SELECT e.seq, e.hash INTO last FROM {TABLE} e WHERE e.action_id = NEW.action_id ORDER BY e.seq DESC LIMIT 1;
    END IF;
    NEW.seq := coalesce(last.seq, 0) + 1;
    NEW.prev_hash := coalesce(last.hash, '');
    NEW.hash := {HASH_SQL.format(canonical=CANONICAL_SQL.format(r="NEW"))};
    RETURN NEW;
END $$;
"""


REFUSE_SQL = f"""
CREATE OR REPLACE FUNCTION hitl_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
        AND OLD.id <= coalesce(nullif(current_setting('hitl.audit_prune_through', true), '')::bigint, 0) THEN
        RETURN OLD;  -- retention, removing whole anchored segments (audit.anchors.audit_prune)
    END IF;
    IF TG_OP = 'TRUNCATE' AND current_setting('hitl.audit_truncate', true) = 'on' THEN
        RETURN NULL;  -- a test database, emptied between tests
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on {TABLE} is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events are only ever inserted; retention prunes whole anchored segments.';
END $$;
"""


def install_sql() -> list[str]:
    """The functions and triggers, as the migrations install them (idempotent)."""
    return [
        _chain_trigger_sql(),
        REFUSE_SQL,
        f"DROP TRIGGER IF EXISTS hitl_audit_chain ON {TABLE}",
        f"CREATE TRIGGER hitl_audit_chain BEFORE INSERT ON {TABLE} FOR EACH ROW EXECUTE FUNCTION hitl_audit_chain()",
        f"DROP TRIGGER IF EXISTS hitl_audit_append_only ON {TABLE}",
        f"CREATE TRIGGER hitl_audit_append_only BEFORE UPDATE OR DELETE ON {TABLE}"
        " FOR EACH ROW EXECUTE FUNCTION hitl_audit_refuse()",
        f"DROP TRIGGER IF EXISTS hitl_audit_no_truncate ON {TABLE}",
        f"CREATE TRIGGER hitl_audit_no_truncate BEFORE TRUNCATE ON {TABLE}"
        " FOR EACH STATEMENT EXECUTE FUNCTION hitl_audit_refuse()",
    ]


def backfill_sql() -> str:
    """Chains the events written before the triggers existed, in id order within each chain."""
    return f"""
DO $$
DECLARE
    e record;
    chain uuid;
    first boolean := true;
    last_seq bigint := 0;
    last_hash text := '';
BEGIN
    FOR e IN SELECT id, action_id FROM {TABLE} ORDER BY action_id NULLS FIRST, id LOOP
        IF first OR e.action_id IS DISTINCT FROM chain THEN
            chain := e.action_id; last_seq := 0; last_hash := ''; first := false;
        END IF;
        last_seq := last_seq + 1;
        UPDATE {TABLE} SET seq = last_seq, prev_hash = last_hash WHERE id = e.id;
        UPDATE {TABLE} r SET hash = {HASH_SQL.format(canonical=CANONICAL_SQL.format(r="r"))}
            WHERE r.id = e.id RETURNING r.hash INTO last_hash;
    END LOOP;
END $$;
"""


def installed() -> bool:
    """Whether this database keeps the chain (its triggers are in place)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'hitl_audit_chain' AND NOT tgisinternal")
        return cursor.fetchone()[0] == 1
