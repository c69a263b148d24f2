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
    # No chart cache snapshot of throwaway targets in the user's cache directory.
    return subprocess.run([str(MLTRACK_BIN), "import", "--no-progress", "--history-cache-file", "", *args],
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


def _tree(client, list_fn, ident, path=None) -> dict:
    """path -> size of every artifact file, walked through the client."""
    out = {}
    for f in list_fn(ident, path):
        if f.is_dir:
            out.update(_tree(client, list_fn, ident, f.path))
        else:
            out[f.path] = f.file_size
    return out


@pytest.fixture(scope="module")
def with_models(tmp_path_factory):
    """An mlruns folder the real client wrote with run artifacts and a logged
    model (params, tags, metrics from two runs, artifacts, links)."""
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModelInput, LoggedModelOutput

    base = tmp_path_factory.mktemp("import-models")
    root = base / "mlruns"
    c = MlflowClient(tracking_uri=root.as_uri())
    exp = c.create_experiment("with-models")
    r1 = c.create_run(exp, run_name="train", start_time=1_650_000_000_000).info.run_id
    r2 = c.create_run(exp, run_name="eval", start_time=1_650_000_000_100).info.run_id
    files = base / "files"
    (files / "sub" / "deeper").mkdir(parents=True)
    (files / "notes.txt").write_text("hello")
    (files / "sub" / "data.bin").write_bytes(os.urandom(300_000))
    (files / "sub" / "deeper" / "empty.txt").write_text("")
    c.log_artifacts(r1, str(files))
    c.log_artifact(r2, str(files / "notes.txt"), "reports")
    m = c.create_logged_model(exp, name="net", source_run_id=r1, tags={"stage": "dev"},
                              params={"layers": "3"}, model_type="toy")
    for s in range(3):
        c.log_metric(r1, "acc", 0.5 + s / 10, timestamp=1_650_000_000_000 + s, step=s, model_id=m.model_id)
    c.log_metric(r2, "acc", 0.75, timestamp=1_650_000_000_500, step=0, model_id=m.model_id,
                 dataset_name="eval", dataset_digest="d1")
    mdir = base / "model"
    mdir.mkdir()
    (mdir / "MLmodel").write_text("flavors: {}\n")
    (mdir / "weights.bin").write_bytes(os.urandom(50_000))
    c.log_model_artifacts(m.model_id, str(mdir))
    c.finalize_logged_model(m.model_id, "READY")
    c.log_outputs(r1, [LoggedModelOutput(m.model_id, 2)])
    c.log_inputs(r2, models=[LoggedModelInput(m.model_id)])
    return {"root": root, "exp": exp, "runs": [r1, r2], "model": m.model_id}


@pytest.fixture(params=["sqlite", "postgres"])
def target_uri(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'imported.db'}"
        return
    gen = _pg_database()
    uri = next(gen)
    try:
        yield uri
    finally:
        next(gen, None)


def test_import_artifacts_and_models_seen_by_mlflow(with_models, target_uri, tmp_path):
    """After `import --artifacts` into SQLite or PostgreSQL, the MLflow client
    talking to `mltrack server` on the result lists and downloads every run and
    model artifact, and reads the logged model as the source had it."""
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    from harness import Server

    src = MlflowClient(tracking_uri=with_models["root"].as_uri())
    work = tmp_path / "server"
    dest = work / "mlartifacts"  # what harness.Server passes as --artifacts-destination
    args = ("--from", str(with_models["root"]), "--to", target_uri,
            "--artifacts", "--artifacts-destination", str(dest))
    dry = mltrack_import(*args, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert not dest.exists(), "a dry run created the destination"
    out = mltrack_import(*args)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "source and target match" in out.stdout, out.stdout
    for row in ("artifact files", "logged models", "model metric points"):
        assert row in out.stdout, out.stdout

    server = Server("mltrack", target_uri, work).start()
    try:
        dst = MlflowClient(tracking_uri=server.url)
        for run_id in with_models["runs"]:
            want = _tree(src, src.list_artifacts, run_id)
            assert want, "the fixture logged no artifacts"
            assert _tree(dst, dst.list_artifacts, run_id) == want
            assert dst.get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:/")
            got_dir = Path(download_artifacts(run_id=run_id, dst_path=str(tmp_path / "dl" / run_id),
                                              tracking_uri=server.url))
            want_dir = Path(download_artifacts(run_id=run_id, dst_path=str(tmp_path / "src" / run_id),
                                               tracking_uri=with_models["root"].as_uri()))
            for rel in want:
                assert (got_dir / rel).read_bytes() == (want_dir / rel).read_bytes(), rel

        mid = with_models["model"]
        a, b = src.get_logged_model(mid), dst.get_logged_model(mid)
        for attr in ("name", "status", "source_run_id", "model_type", "params", "tags",
                     "creation_timestamp", "last_updated_timestamp"):
            assert getattr(a, attr) == getattr(b, attr), attr
        key = lambda m: (m.key, m.step, m.timestamp, m.value, m.run_id, m.dataset_name or "")  # noqa: E731
        # MLflow's file store reports a model's latest point per key and
        # dataset, its SQL store every point: the target has all, the
        # source's view among them.
        r1, r2 = with_models["runs"]
        logged = [("acc", s, 1_650_000_000_000 + s, 0.5 + s / 10, r1, "") for s in range(3)]
        logged.append(("acc", 0, 1_650_000_000_500, 0.75, r2, "eval"))
        assert sorted(map(key, b.metrics)) == sorted(logged)
        assert set(map(key, a.metrics)) <= set(logged) and len(a.metrics) == 2
        found = dst.search_logged_models(experiment_ids=[b.experiment_id])
        assert [m.model_id for m in found] == [mid]
        want = _tree(src, src.list_logged_model_artifacts, mid)
        assert set(want) == {"MLmodel", "weights.bin"}
        assert _tree(dst, dst.list_logged_model_artifacts, mid) == want
        got = Path(download_artifacts(artifact_uri=b.artifact_location, dst_path=str(tmp_path / "model"),
                                      tracking_uri=server.url))
        assert (got / "MLmodel").read_text() == "flavors: {}\n"
        assert dst.get_run(with_models["runs"][0]).outputs.model_outputs[0].model_id == mid
        assert dst.get_run(with_models["runs"][1]).inputs.model_inputs[0].model_id == mid
    finally:
        server.stop()

    # Idempotent: nothing is copied again.
    again = mltrack_import(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "source and target match" in again.stdout
    assert "1 logged models already up to date" in again.stdout, again.stdout
