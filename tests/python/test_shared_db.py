"""The subject and the MLflow client share one database.

MLflow's client writes a database directly (no server); the subject serves it
and adds to it over HTTP; then the MLflow client reads the file directly again.
Both views must agree exactly: this is what lets a team switch servers (or run
both) on the same database. Also: the schema the subject creates on an empty
database is the one MLflow creates.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import uuid

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType

from harness import Server, subject_kind
from scenario import assert_same

T0 = 1_650_000_000_000


def _num(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return repr(v)
    return v


def snapshot(client: MlflowClient) -> dict:
    """Every experiment and run with full metric histories, in a stable order."""
    exps = client.search_experiments(view_type=ViewType.ALL, max_results=1000)
    out = {}
    for e in sorted(exps, key=lambda e: int(e.experiment_id)):
        runs = client.search_runs([e.experiment_id], run_view_type=ViewType.ALL, max_results=1000)
        run_out = {}
        for r in sorted(runs, key=lambda r: r.info.run_id):
            info = r.info
            run_out[info.run_id] = {
                "info": {k: getattr(info, k) for k in (
                    "run_name", "experiment_id", "user_id", "status", "start_time", "end_time",
                    "artifact_uri", "lifecycle_stage")},
                "params": dict(r.data.params),
                "tags": dict(r.data.tags),
                "latest": {k: _num(v) for k, v in r.data.metrics.items()},
                "history": {k: sorted((m.step, m.timestamp, _num(m.value)) for m in
                                      client.get_metric_history(info.run_id, k))
                            for k in sorted(r.data.metrics)},
            }
        out[e.experiment_id] = {
            "name": e.name, "lifecycle_stage": e.lifecycle_stage, "artifact_location": e.artifact_location,
            "tags": dict(e.tags), "creation_time": e.creation_time, "last_update_time": e.last_update_time,
            "runs": run_out,
        }
    return out


def write_some(client: MlflowClient, prefix: str) -> dict:
    """Experiments and runs exercising every kind of row the tracking tables hold."""
    exp = client.create_experiment(f"{prefix}-exp", tags={"owner": prefix, "kind": "shared"})
    a = client.create_run(exp, run_name=f"{prefix}-a", start_time=T0, tags={"phase": "train"})
    rid = a.info.run_id
    client.log_batch(rid,
                     metrics=[Metric("loss", 1.0 / (s + 1), T0 + s, s) for s in range(50)]
                     + [Metric("acc", 0.5, T0, 0), Metric("acc", math.nan, T0 + 1, 1),
                        Metric("big", math.inf, T0, 0), Metric("small", -math.inf, T0, 0)],
                     params=[Param("lr", "0.01"), Param("opt", "adam")],
                     tags=[RunTag("note", "héllo")])
    client.log_metric(rid, "loss", 0.001, timestamp=T0 + 999, step=10)  # second value at a step
    client.set_terminated(rid, "FINISHED", end_time=T0 + 5000)
    child = client.create_run(exp, run_name=f"{prefix}-child", start_time=T0 + 1,
                              tags={"mlflow.parentRunId": rid})
    client.log_param(child.info.run_id, "depth", "1")
    gone = client.create_run(exp, run_name=f"{prefix}-gone", start_time=T0 + 2)
    client.delete_run(gone.info.run_id)
    dead = client.create_experiment(f"{prefix}-deleted-exp")
    client.create_run(dead, run_name=f"{prefix}-in-deleted", start_time=T0 + 3)
    client.delete_experiment(dead)
    return {"exp": exp, "run": rid, "child": child.info.run_id}


def shared_database_roundtrip(tmp_path, direct_uri: str, serve_uri: str) -> None:
    direct = MlflowClient(tracking_uri=direct_uri)
    before = write_some(direct, "direct")
    view_direct_1 = snapshot(direct)

    server = Server(kind=subject_kind(), backend_uri=serve_uri, workdir=tmp_path / "srv")
    try:
        server.start()
    except RuntimeError as e:
        pytest.fail(f"subject did not start on the MLflow-created database: {e}", pytrace=False)
    try:
        http = MlflowClient(tracking_uri=server.url)
        # The subject reads what MLflow wrote, exactly.
        assert_same(view_direct_1, snapshot(http))
        # The subject writes: new experiment and runs, and more on an old run.
        write_some(http, "http")
        http.log_metric(before["run"], "loss", 0.0001, timestamp=T0 + 10_000, step=100)
        http.log_param(before["child"], "added", "by-subject")
        http.set_tag(before["child"], "via", "http")
        http.set_experiment_tag(before["exp"], "touched", "yes")
        view_http = snapshot(http)
    finally:
        server.stop()

    # And MLflow reads what the subject wrote, exactly.
    view_direct_2 = snapshot(MlflowClient(tracking_uri=direct_uri))
    assert len(view_direct_2) == len(view_direct_1) + 2
    assert_same(view_http, view_direct_2)


def test_shared_sqlite_database(tmp_path):
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    shared_database_roundtrip(tmp_path, uri, uri)


def _pg_database():
    base = os.environ.get("MLTRACK_TEST_POSTGRES_URI", "")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("MLTRACK_TEST_POSTGRES_URI is not set (CI requires the PostgreSQL tests)")
        pytest.skip("MLTRACK_TEST_POSTGRES_URI not set")
    import psycopg

    name = f"pytests_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # name is generated above, not user text
    root = base.rsplit("/", 1)[0]
    yield f"{root}/{name}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database():
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    yield from _pg_database()


@pytest.fixture
def pg_database_2():
    yield from _pg_database()


def test_shared_postgres_database(tmp_path, pg_database):
    # The MLflow client speaks to PostgreSQL through psycopg 3 (psycopg2 is not
    # installed); mltrack takes the plain URI.
    direct = pg_database.replace("postgresql://", "postgresql+psycopg://", 1)
    serve = direct if subject_kind() == "mlflow" else pg_database
    shared_database_roundtrip(tmp_path, direct, serve)


# ---------------------------------------------------------------------------
# Schema


TABLE_CONSTRAINT = re.compile(r"^(CONSTRAINT|CHECK|FOREIGN KEY|PRIMARY KEY|UNIQUE)\b", re.I)


def normalise_ddl(sql: str | None) -> str | None:
    """Whitespace collapsed; table constraints sorted.

    MLflow itself is not stable about the order of table constraints: its
    batch migrations on SQLite rebuild tables and emit them in varying order
    (a server-created and a client-created database differ), so only the
    column order is significant.
    """
    if not sql:
        return sql
    sql = re.sub(r"\s+", " ", sql).strip()
    if not sql.upper().startswith("CREATE TABLE") or "(" not in sql:
        return sql
    head, body = sql.split("(", 1)
    body = body.rsplit(")", 1)[0]
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    items.append(cur.strip())
    columns = [i for i in items if not TABLE_CONSTRAINT.match(i)]
    constraints = sorted(i for i in items if TABLE_CONSTRAINT.match(i))
    return f"{head.strip()} ( {', '.join(columns + constraints)} )"


def sqlite_schema(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    finally:
        conn.close()
    return {"objects": sorted((t, n, tb, normalise_ddl(s)) for t, n, tb, s in rows),
            "alembic_version": version}


def test_sqlite_schema_matches_mlflow(tmp_path):
    mlflow_db = tmp_path / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{mlflow_db}").search_experiments()
    subject_db = tmp_path / "subject.db"
    server = Server(kind=subject_kind(), backend_uri=f"sqlite:///{subject_db}", workdir=tmp_path / "srv")
    try:
        server.start()
    except RuntimeError as e:
        pytest.fail(f"subject did not start on an empty database: {e}", pytrace=False)
    server.stop()
    want, got = sqlite_schema(mlflow_db), sqlite_schema(subject_db)
    missing = sorted(set(want["objects"]) - set(got["objects"]))
    extra = sorted(set(got["objects"]) - set(want["objects"]))
    assert want["alembic_version"] == got["alembic_version"]
    assert not missing and not extra, (
        f"{len(missing)} schema objects missing or different, {len(extra)} extra\n"
        f"missing: {missing[:8]}\nextra: {extra[:8]}")


def _strip_casts(definition: str) -> str:
    return re.sub(r"[()\s]", "", re.sub(r"::[a-z ]+(\[\])?", "", definition))


def pg_schema(uri: str) -> dict:
    import psycopg

    with psycopg.connect(uri) as conn:
        q = lambda sql: sorted(tuple(r) for r in conn.execute(sql).fetchall())  # noqa: E731
        # ordinal_position is PostgreSQL's attnum, which keeps gaps where a
        # migration dropped a column; only the relative column order matters.
        columns = q("""SELECT table_name, column_name, data_type, character_maximum_length,
                              numeric_precision, is_nullable, column_default,
                              rank() OVER (PARTITION BY table_name ORDER BY ordinal_position)
                       FROM information_schema.columns WHERE table_schema = 'public'""")
        return {
            "columns": columns,
            # CHECK (x IN (...)) re-created from pg_dump output deparses with the
            # casts placed differently than when alembic created it; casts and
            # parentheses are dropped so equal constraints compare equal.
            "constraints": sorted((t, n, c, _strip_casts(d)) for t, n, c, d in q(
                """SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
                   FROM pg_constraint WHERE connamespace = 'public'::regnamespace""")),
            "indexes": q("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"),
            "alembic_version": q("SELECT version_num FROM alembic_version"),
        }


def test_postgres_schema_matches_mlflow(tmp_path, pg_database, pg_database_2):
    # Two databases: MLflow's (client-created) and the subject's (server-created).
    other = pg_database_2
    MlflowClient(tracking_uri=pg_database.replace("postgresql://", "postgresql+psycopg://", 1)).search_experiments()
    serve = other if subject_kind() == "mltrack" else other.replace("postgresql://", "postgresql+psycopg://", 1)
    server = Server(kind=subject_kind(), backend_uri=serve, workdir=tmp_path / "srv")
    try:
        server.start()
    except RuntimeError as e:
        pytest.fail(f"subject did not start on an empty PostgreSQL database: {e}", pytrace=False)
    server.stop()
    want, got = pg_schema(pg_database), pg_schema(other)
    for part in want:
        missing = sorted(set(want[part]) - set(got[part]))
        extra = sorted(set(got[part]) - set(want[part]))
        assert not missing and not extra, (
            f"{part}: {len(missing)} missing or different, {len(extra)} extra\n"
            f"missing: {missing[:6]}\nextra: {extra[:6]}")
