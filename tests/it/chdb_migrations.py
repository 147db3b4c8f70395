"""Applies rendered chainflow ClickHouse migrations in chdb (current ClickHouse, in-process).

Usage:
  python3 chdb_migrations.py version
      prints the version of the embedded ClickHouse engine (`SELECT version()`).
  python3 chdb_migrations.py apply STATEMENTS_JSON SESSION_DIR
      runs each statement of the JSON array in a fresh session stored in SESSION_DIR, in the
      order given, then prints one JSON object: {"tables": {name: engine},
      "keys": {name: [partition_key, sorting_key]},
      "columns": {table: [[name, type, codec], ...]}} for the current database.

Exits non-zero (with the statement on stderr) when chdb is missing or a statement fails.
"""

import json
import sys

from chdb import session


def scalar(sess, sql):
    return str(sess.query(sql, "TSVRaw")).strip()


def rows(sess, sql):
    out = str(sess.query(sql, "JSONCompactEachRow")).strip()
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main(argv):
    if len(argv) == 2 and argv[1] == "version":
        sess = session.Session()
        try:
            print(scalar(sess, "SELECT version()"))
        finally:
            sess.close()
        return 0
    if len(argv) != 4 or argv[1] != "apply":
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[2], encoding="utf-8") as f:
        statements = json.load(f)
    sess = session.Session(argv[3])
    try:
        for i, statement in enumerate(statements, start=1):
            try:
                sess.query(statement)
            except Exception as e:  # chdb raises its own error types
                print(f"failed to run statement {i}: {statement}\n{e}", file=sys.stderr)
                return 1
        listed = rows(
            sess,
            "SELECT name, engine, partition_key, sorting_key FROM system.tables "
            "WHERE database = currentDatabase()",
        )
        tables = {name: engine for name, engine, _, _ in listed}
        keys = {name: [partition, sorting] for name, _, partition, sorting in listed}
        columns = {}
        for table, name, ty, codec in rows(
            sess,
            "SELECT table, name, type, compression_codec FROM system.columns "
            "WHERE database = currentDatabase() ORDER BY table, position",
        ):
            columns.setdefault(table, []).append([name, ty, codec])
        print(json.dumps({"tables": tables, "keys": keys, "columns": columns}))
    finally:
        sess.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
