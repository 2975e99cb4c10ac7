"""Writing several new rows atomically in one round trip."""

from django.db import connection, transaction
from django.db.models import sql


def insert_together(*objs) -> None:
    """INSERT model instances atomically: on PostgreSQL as one statement, elsewhere in a transaction.

    One statement of data-modifying CTEs is atomic by itself and needs no BEGIN and COMMIT round
    trips, which on the submit path cost more than the inserts. The SQL of each INSERT comes from
    Django's own compiler; the database's generated primary keys are set on the instances. No
    save() signals are sent: call it only for models that have no receivers.
    """
    if connection.vendor != "postgresql":
        with transaction.atomic():
            for obj in objs:
                obj.save(force_insert=True)
        return
    parts, params, generated = [], [], []
    for i, obj in enumerate(objs):
        meta = obj._meta
        fields = [f for f in meta.local_concrete_fields if obj.pk is not None or f is not meta.auto_field]
        query = sql.InsertQuery(type(obj))
        query.insert_values(fields, [obj])
        compiler = query.get_compiler(connection=connection)
        if obj.pk is None:
            compiler.returning_fields = [meta.pk]
            generated.append((f"i{i}", obj))
        [(statement, statement_params)] = compiler.as_sql()
        parts.append(f"i{i} AS ({statement})")
        params.extend(statement_params)
    pk_select = " UNION ALL ".join(f"SELECT {n}, {name}.* FROM {name}" for n, (name, _) in enumerate(generated))
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} {pk_select or 'SELECT 1'}", params)
        rows = dict(cursor.fetchall()) if generated else {}
    for n, (_, obj) in enumerate(generated):
        obj.pk = rows[n]
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias
