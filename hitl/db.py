"""Writing several rows in one round trip: new rows atomically, changed rows in one statement."""

import itertools
import re
from typing import NamedTuple

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import sql
from psycopg import RawCursor


def insert_together(*objs) -> None:
    """INSERT model instances atomically: on PostgreSQL as one statement, elsewhere in a transaction.

    One statement of data-modifying CTEs is atomic by itself and needs no BEGIN and COMMIT round
    trips, which on the submit path cost more than the inserts. The SQL of each INSERT comes from
    Django's own compiler, once per combination of models: after that only the values are
    prepared, as the compiler prepares them, and the statement goes out with PostgreSQL's own
    placeholders (psycopg parses a statement of over 50 parameters or 4 KB again on every call). The
    database's generated primary keys are set on the instances. No save() signals are sent: call
    it only for models that have no receivers.
    """
    shape = tuple((type(obj), obj.pk is None) for obj in objs)
    columns = [_insert_fields(obj) for obj in objs]
    values = [[field.pre_save(obj, True) for field in fields] for obj, fields in zip(objs, columns, strict=True)]
    statement = _statements.get(shape)
    if statement is None or any(hasattr(value, "resolve_expression") for row in values for value in row):
        text, params = _compile_together(objs, columns)
        statement = _statement(text)
        if not any(hasattr(field, "get_placeholder") for fields in columns for field in fields):
            _statements[shape] = statement
    else:
        db = connections[DEFAULT_DB_ALIAS]
        params = [
            field.get_db_prep_save(value, db)
            for fields, row in zip(columns, values, strict=True)
            for field, value in zip(fields, row, strict=True)
        ]
    if connection.queries_logged:  # Django's query log (DEBUG, a test counting queries) renders only %s
        cursor, text = connection.cursor(), statement.text
    else:  # what connection.cursor() does, around a RawCursor
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        connection.validate_thread_sharing()
        cursor, text = connection.make_cursor(RawCursor(connection.connection)), statement.numbered
    with cursor:
        cursor.execute(text, params)
        rows = dict(cursor.fetchall())
    for n, obj in enumerate(obj for obj, (_, generated) in zip(objs, shape, strict=True) if generated):
        obj.pk = rows[n]
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias


_statements: dict = {}  # the models (and which get their key back) → insert_together's statement


class _Statement(NamedTuple):
    text: str  # with psycopg's %s placeholders
    numbered: str  # with PostgreSQL's $1, $2…, which psycopg's RawCursor sends as they are


def _statement(text: str) -> _Statement:
    n = itertools.count(1)
    return _Statement(text, re.sub(r"%s|%%", lambda m: f"${next(n)}" if m.group() == "%s" else "%", text))


def _insert_fields(obj) -> list:
    meta = obj._meta
    return [f for f in meta.local_concrete_fields if obj.pk is not None or f is not meta.auto_field]


def _compile_together(objs, columns) -> tuple[str, list]:
    """The WITH statement inserting `objs` (with `columns` each), and its parameters, from Django's
    compiler; it selects the generated keys in order (or 1 when there are none)."""
    parts, params, generated = [], [], []
    for i, (obj, fields) in enumerate(zip(objs, columns, strict=True)):
        query = sql.InsertQuery(type(obj))
        query.insert_values(fields, [obj])
        compiler = query.get_compiler(connection=connection)
        if obj.pk is None:
            compiler.returning_fields = [obj._meta.pk]
            generated.append(f"i{i}")
        [(statement, statement_params)] = compiler.as_sql()
        parts.append(f"i{i} AS ({statement})")
        params.extend(statement_params)
    pk_select = " UNION ALL ".join(f"SELECT {n}, {name}.* FROM {name}" for n, name in enumerate(generated))
    return f"WITH {', '.join(parts)} {pk_select or 'SELECT 0, 1'}", params


def update_rows(objs: list, fields: list[str]) -> None:
    """UPDATE the columns `fields` of `objs` (saved instances of one model, each once) to their
    values in memory, like QuerySet.bulk_update, and like it without save() or signals.

    This is one statement whatever the number of rows: each column's values travel as one array
    parameter and UNNEST joins them to the table by primary key, so the statement's text is the
    same for every batch. (bulk_update writes a CASE WHEN per field and row: its SQL grows with the
    rows, and Django takes longer to build it than PostgreSQL to run it.) For a field an array
    cannot carry, it is bulk_update.
    """
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    targets = [meta.get_field(name) for name in fields]
    columns = [meta.pk, *targets]
    if not all(_unnestable(field) for field in columns):
        model._base_manager.bulk_update(objs, fields)
        return
    qn = connection.ops.quote_name
    table, pk = qn(meta.db_table), qn(meta.pk.column)
    names = ", ".join(qn(field.column) for field in columns)
    changes = ", ".join(f"{qn(field.column)} = v.{qn(field.column)}" for field in targets)
    sql = f"UPDATE {table} SET {changes} FROM UNNEST({_arrays(columns)}) AS v ({names}) WHERE {table}.{pk} = v.{pk}"
    db = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the proxy, for a value at a time
    params = [[field.get_db_prep_save(getattr(obj, field.attname), db) for obj in objs] for field in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def insert_rows(objs: list) -> None:
    """INSERT new instances of one model, like QuerySet.bulk_create without reading back their
    generated keys (their pk stays None), and like it without save() or signals.

    One statement of one array parameter per column, as Django's own bulk_create does, but sent in
    binary: no text escaping of every value. For a field an array cannot carry, it is bulk_create.
    """
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    columns = [field for field in meta.local_concrete_fields if field is not meta.auto_field]
    if not all(_unnestable(field) for field in columns):
        model._base_manager.bulk_create(objs)
        return
    qn = connection.ops.quote_name
    names = ", ".join(qn(field.column) for field in columns)
    sql = f"INSERT INTO {qn(meta.db_table)} ({names}) SELECT * FROM UNNEST({_arrays(columns)})"
    db = connections[DEFAULT_DB_ALIAS]
    params = [[field.get_db_prep_save(field.pre_save(obj, True), db) for obj in objs] for field in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias


def _unnestable(field) -> bool:
    """Whether a field's values can travel in a PostgreSQL array (the test Django's inserts use)."""
    internal = (field.target_field if field.is_relation else field).get_internal_type()
    return not hasattr(field, "get_placeholder") and internal in connection.data_types


def _arrays(fields) -> str:
    """One typed array placeholder per field, of the base type as Django's UNNEST inserts do
    (varchar[], not varchar(16)[]). Binary where the connection binds on the server."""
    binary = connection.settings_dict["OPTIONS"].get("server_side_binding") is True
    placeholder = "%b" if binary else "%s"
    return ", ".join(f"{placeholder}::{field.db_type(connection).split('(')[0]}[]" for field in fields)
