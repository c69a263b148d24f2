"""The artifact and logged-model scenarios again, with both servers storing
artifacts in a real S3-compatible server (versitygw, started by `make test`
through scripts/start-s3.sh, which exports MLTRACK_TEST_S3_ENDPOINT and the
AWS credentials).

Each server gets its own prefix in one bucket:
`--artifacts-destination s3://<bucket>/<kind>`, with the endpoint in
MLFLOW_S3_ENDPOINT_URL, which both read.
"""

from __future__ import annotations

import os
import uuid

import pytest

import test_artifacts as ta
import test_models as tm
from harness import Server, subject_kind
from scenario import Ctx, compare
from test_artifacts import tree  # noqa: F401  (the module-scoped fixture)


def _endpoint() -> str:
    ep = os.environ.get("MLTRACK_TEST_S3_ENDPOINT", "")
    if not ep:
        msg = "MLTRACK_TEST_S3_ENDPOINT is not set: run `make test`, or eval \"$(bash scripts/start-s3.sh)\""
        if os.environ.get("CI") == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return ep


@pytest.fixture(scope="module")
def s3_ctxs(tmp_path_factory):
    import boto3

    endpoint = _endpoint()
    bucket = f"mltrack-pytest-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=bucket)
    root = tmp_path_factory.mktemp("artifacts-s3")
    env = {"MLFLOW_S3_ENDPOINT_URL": endpoint}
    servers = []
    try:
        for kind, name in (("mlflow", "oracle"), (subject_kind(), "subject")):
            workdir = root / name
            servers.append(Server(kind=kind, backend_uri=f"sqlite:///{workdir / 'db.sqlite'}", workdir=workdir,
                                  extra_env=env, artifacts_destination=f"s3://{bucket}/{name}").start())
        yield {"oracle": Ctx(servers[0]), "subject": Ctx(servers[1]), "s3": s3, "bucket": bucket}
    finally:
        for srv in servers:
            srv.stop()


def _ctxs(c: dict) -> dict:
    return {"oracle": c["oracle"], "subject": c["subject"]}


def test_log_and_list(s3_ctxs, tree):  # noqa: F811
    ta.test_log_and_list(_ctxs(s3_ctxs), tree)


def test_download(s3_ctxs, tree, tmp_path):  # noqa: F811
    ta.test_download(_ctxs(s3_ctxs), tree, tmp_path)


def test_runs_uri_flows(s3_ctxs, tree, tmp_path):  # noqa: F811
    ta.test_runs_uri_flows(_ctxs(s3_ctxs), tree, tmp_path)


def test_delete_through_proxy(s3_ctxs, tree):  # noqa: F811
    ta.test_delete_through_proxy(_ctxs(s3_ctxs), tree)


@pytest.mark.parametrize("flow", sorted(tm.CORE_FLOWS))
def test_model_flows(s3_ctxs, flow):
    compare(lambda ctx: tm.CORE_FLOWS[flow](ctx, f"s3-models-{flow}"), _ctxs(s3_ctxs))


def test_objects_are_in_the_bucket(s3_ctxs, tree):  # noqa: F811
    """What the subject stored went to S3 under its prefix, with the same
    relative keys as the oracle's (not to a local directory)."""
    def s(ctx: Ctx):
        run_id = ta._log_everything(ctx, tree, "s3-bucket-keys")
        return ctx.client.get_run(run_id).info.artifact_uri

    uris = {k: s(s3_ctxs[k]) for k in ("oracle", "subject")}
    s3, bucket = s3_ctxs["s3"], s3_ctxs["bucket"]
    keys = {}
    for name, uri in uris.items():
        # mlflow-artifacts:/<exp>/<run>/artifacts -> <name>/<exp>/<run>/artifacts/...
        prefix = f"{name}/{uri.split(':/', 1)[1].lstrip('/')}/"
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys[name] = sorted(o["Key"][len(prefix):] for p in pages for o in p.get("Contents", []))
        assert not (s3_ctxs[name].server.workdir / "mlartifacts").exists()
    assert keys["subject"] and keys["subject"] == keys["oracle"], keys
