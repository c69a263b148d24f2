"""`mltrack import` moves an mlruns folder the real MLflow client wrote into
SQLite and PostgreSQL, and the MLflow client pointed at the results sees the
same experiments and runs (run ids, times, params, tags, every metric point,
dataset inputs). Experiment ids differ where the target cannot hold them
(MLflow's SQL schema keeps 32-bit ids; mlruns folders use 18-digit ones), so
views are keyed by name.
"""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"

from harness import MLTRACK_BIN  # noqa: E402
from scenario import assert_same  # noqa: E402
from test_filestore import file_view, write_mlruns  # noqa: E402
from test_shared_db import _pg_database  # noqa: E402

MAX = 1.7976931348623157e308
NEVER = 10**15  # no clock reading is masked: everything comes from one source


def mltrack_import(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(MLTRACK_BIN), "import", "--no-progress", *args],
                          capture_output=True, text=True, timeout=300)


def by_point(view: dict) -> dict:
    """Histories as sorted point lists: an mlruns folder answers in file
    order, a SQL store in (timestamp, step, value) order; the points are the
    data."""
    for e in view.values():
        for r in e["runs"].values():
            r["history"] = {k: sorted(v, key=repr) for k, v in r["history"].items()}
    return view


def sql_view(uri: str) -> dict:
    """file_view of a SQL store; MLflow's SQL store keeps ±Inf as ±MaxFloat64."""
    view = file_view_uri(uri)

    def inf(obj):
        if isinstance(obj, dict):
            return {k: inf(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [inf(v) for v in obj]
        if isinstance(obj, float) and abs(obj) == MAX:
            return math.copysign(math.inf, obj)
        return obj

    return by_point(inf(view))


def file_view_uri(uri: str) -> dict:
    # file_view takes a folder; a SQL URI goes through the same code with a
    # stand-in root that never occurs in values.
    class U:
        def __init__(self, u):
            self.u = u

        def as_uri(self):
            return self.u

        def __str__(self):
            return "\0"

    return by_point(file_view(U(uri), NEVER, mask_root=False))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("import") / "mlruns"
    write_mlruns(root)
    return root


def check_import(source: Path, to: str, view_uri: str, is_sql: bool) -> None:
    first = mltrack_import("--from", str(source), "--to", to)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "source and target match" in first.stdout, first.stdout
    want = by_point(file_view(source, NEVER, mask_root=False))
    got = sql_view(view_uri) if is_sql else file_view_uri(view_uri)
    assert_same(want, got)
    # Idempotent: a second run writes nothing and still matches.
    again = mltrack_import("--from", str(source), "--to", to)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "(0 metric points/s written)" in again.stdout, again.stdout
    assert_same(got, sql_view(view_uri) if is_sql else file_view_uri(view_uri))


def test_import_into_sqlite(source, tmp_path):
    db = tmp_path / "imported.db"
    check_import(source, f"sqlite:///{db}", f"sqlite:///{db}", True)


def test_import_into_postgres(source):
    gen = _pg_database()
    uri = next(gen)
    try:
        # The MLflow client speaks to PostgreSQL through psycopg 3.
        check_import(source, uri, uri.replace("postgresql://", "postgresql+psycopg://", 1), True)
    finally:
        next(gen, None)


def test_import_back_into_mlruns(source, tmp_path):
    db = tmp_path / "a.db"
    assert mltrack_import("--from", str(source), "--to", f"sqlite:///{db}").returncode == 0
    back = tmp_path / "back"
    out = mltrack_import("--from", f"sqlite:///{db}", "--to", str(back))
    assert out.returncode == 0, out.stdout + out.stderr
    # SQL turned ±Inf into ±MaxFloat64; everything else is as the source.
    assert_same(by_point(file_view(source, NEVER, mask_root=False)), sql_view(back.as_uri()))


def test_dry_run_writes_nothing(source, tmp_path):
    db = tmp_path / "dry.db"
    out = mltrack_import("--from", str(source), "--to", f"sqlite:///{db}", "--dry-run")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "dry run" in out.stdout
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    finally:
        con.close()


def test_bad_input_is_reported_with_its_path(source, tmp_path):
    import shutil

    bad = tmp_path / "mlruns"
    shutil.copytree(source, bad)
    metric = next(p for p in bad.glob("*/*/metrics/loss"))
    with open(metric, "a") as f:
        f.write("1650000009999 0.7")  # a point cut short by a crash
    stop = mltrack_import("--from", str(bad), "--to", f"sqlite:///{tmp_path / 'stop.db'}")
    assert stop.returncode == 1
    assert str(metric) in stop.stdout + stop.stderr
    skip = mltrack_import("--from", str(bad), "--to", f"sqlite:///{tmp_path / 'skip.db'}", "--on-error=skip")
    assert skip.returncode == 1
    assert str(metric) in skip.stdout and "DO NOT match" in skip.stdout


def test_unknown_schema_revision_is_refused(source, tmp_path):
    db = tmp_path / "old.db"
    assert mltrack_import("--from", str(source), "--to", f"sqlite:///{db}").returncode == 0
    con = sqlite3.connect(db)
    con.execute("UPDATE alembic_version SET version_num = 'abc123'")
    con.commit()
    con.close()
    out = mltrack_import("--from", f"sqlite:///{db}", "--to", str(tmp_path / "x"))
    assert out.returncode == 1
    assert "abc123" in out.stderr and str(db) in out.stderr


def test_artifacts_flag_is_refused(source, tmp_path):
    out = mltrack_import("--from", str(source), "--to", f"sqlite:///{tmp_path / 'a.db'}", "--artifacts")
    assert out.returncode == 2 and "not supported yet" in out.stderr
