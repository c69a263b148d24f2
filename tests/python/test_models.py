"""Differential scenarios: MLflow 3 logged models, run inputs and outputs,
dataset search.

The same client code runs against `mlflow server` (the oracle) and mltrack
(the subject), on SQLite and, for the core flows, on an mlruns folder. Model
ids (m-<32 hex>) are masked like run ids, in order of first appearance.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

# The mlruns servers and the client both need it since MLflow 3.13.
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"

from harness import Server, subject_kind  # noqa: E402
from scenario import Ctx, assert_same, compare, run_scenario  # noqa: E402

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"
T0 = 1_650_000_000_000


def _model_dict(m) -> dict:
    d = m.to_dictionary()
    d["metrics"] = sorted(
        ({k: getattr(x, k) for k in ("key", "value", "step", "timestamp", "run_id", "dataset_name",
                                     "dataset_digest", "model_id")} for x in (m.metrics or [])),
        key=lambda x: (x["key"], x["step"], x["timestamp"], x["value"]))
    return d


def _names(models) -> list:
    return [m.name for m in models]


def _pause():
    """Models created in one millisecond tie on creation_timestamp and fall
    back to their random ids; a pause keeps the default order stable."""
    time.sleep(0.003)


# ---------------------------------------------------------------------------
# Core flows, run on SQLite and on an mlruns folder.

class AddOne:
    """Built lazily so importing this file does not import mlflow.pyfunc."""

    @staticmethod
    def make():
        import mlflow

        class _AddOne(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input["x"] + 1

        return _AddOne()


def pyfunc_flow(ctx: Ctx, exp: str):
    import pandas as pd

    mlflow = ctx.fluent()
    ctx.exp_id(mlflow.set_experiment(exp).experiment_id)
    with mlflow.start_run() as run:
        ctx.run_id(run.info.run_id)
        mlflow.log_param("lr", "0.1")
        mlflow.log_metric("acc", 0.9, step=0)
        info = mlflow.pyfunc.log_model(name="model", python_model=AddOne.make(), pip_requirements=[])
    loaded = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
    c = ctx.client
    model = c.get_logged_model(info.model_id)
    files = sorted((f.path, f.is_dir) for f in c.list_logged_model_artifacts(info.model_id))
    raw = ctx.session.get(ctx.url + f"{AJAX}/logged-models/{info.model_id}/artifacts/files",
                          params={"artifact_file_path": "python_env.yaml"}, timeout=30)
    run_after = c.get_run(run.info.run_id)
    return {
        "prediction": loaded.predict(pd.DataFrame({"x": [1, 2, 41]})).tolist(),
        "model": _model_dict(model),
        "files": files,
        "download": {"status": raw.status_code, "body": raw.text,
                     "nosniff": raw.headers.get("X-Content-Type-Options")},
        "outputs": [o.to_dictionary() for o in run_after.outputs.model_outputs],
        "search": _names(c.search_logged_models(experiment_ids=[model.experiment_id])),
        "fluent_search": _names(mlflow.search_logged_models(experiment_ids=[model.experiment_id],
                                                            output_format="list")),
    }


def lifecycle_flow(ctx: Ctx, exp: str):
    import mlflow as _mlflow

    mlflow = ctx.fluent()
    c = ctx.client
    exp_id = ctx.exp_id(c.create_experiment(exp))
    run = c.create_run(exp_id, start_time=T0)
    ctx.run_id(run.info.run_id)
    out = {}
    many = {f"p{i:03d}": str(i) for i in range(150)}  # the client sends 100, then /params
    m = c.create_logged_model(exp_id, name="clf", source_run_id=run.info.run_id, tags={"team": "a"},
                              params=many, model_type="sklearn")
    out["created"] = _model_dict(m)
    out["finalized"] = _model_dict(c.finalize_logged_model(m.model_id, "READY"))
    c.set_logged_model_tags(m.model_id, {"stage": "dev", "team": "b"})
    c.delete_logged_model_tag(m.model_id, "stage")
    mlflow.log_model_params({"extra": "1"}, model_id=m.model_id)
    out["after_writes"] = _model_dict(c.get_logged_model(m.model_id))
    failed = c.create_logged_model(exp_id)
    out["failed"] = _model_dict(c.finalize_logged_model(failed.model_id, _mlflow.entities.LoggedModelStatus.FAILED))
    c.delete_logged_model(failed.model_id)
    try:
        c.get_logged_model(failed.model_id)
        out["deleted_get"] = "found"
    except _mlflow.exceptions.MlflowException as e:
        out["deleted_get"] = e.error_code
    out["search_after_delete"] = _names(c.search_logged_models(experiment_ids=[exp_id]))
    return out


def inputs_flow(ctx: Ctx, exp: str):
    import numpy as np
    import pandas as pd
    from mlflow.entities import LoggedModelInput

    mlflow = ctx.fluent()
    ctx.exp_id(mlflow.set_experiment(exp).experiment_id)
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
    pd_ds = mlflow.data.from_pandas(df, source="s3://bucket/train.csv", name="train", targets="a")
    np_ds = mlflow.data.from_numpy(np.arange(12, dtype=np.float64).reshape(4, 3), source="/data/eval.npy", name="eval")
    c = ctx.client
    m = c.create_logged_model(mlflow.get_experiment_by_name(exp).experiment_id, name="used")
    with mlflow.start_run() as run:
        ctx.run_id(run.info.run_id)
        mlflow.log_input(pd_ds, context="training")
        mlflow.log_input(pd_ds, context="training")  # the same input again: kept once
        mlflow.log_input(np_ds, context="eval", tags={"split": "holdout"})
        mlflow.log_input(model=LoggedModelInput(m.model_id))
    got = c.get_run(run.info.run_id)
    dataset_inputs = sorted(
        ({"tags": sorted((t.key, t.value) for t in di.tags), "dataset": di.dataset.to_dictionary()}
         for di in got.inputs.dataset_inputs), key=lambda d: d["dataset"]["name"])
    exp_id = got.info.experiment_id
    summaries = ctx.raw("POST", f"{AJAX}/experiments/search-datasets", json_body={"experiment_ids": [exp_id]})
    body = summaries["body"]
    body["dataset_summaries"] = sorted(body.get("dataset_summaries", []), key=lambda d: (d["name"], d["digest"]))
    return {
        "dataset_inputs": dataset_inputs,
        "model_inputs": [mi.model_id for mi in got.inputs.model_inputs],
        "search_datasets": summaries,
        "searched_run_inputs": len(c.search_runs([exp_id])[0].inputs.dataset_inputs),
    }


CORE_FLOWS = {"pyfunc": pyfunc_flow, "lifecycle": lifecycle_flow, "inputs": inputs_flow}


@pytest.mark.parametrize("flow", sorted(CORE_FLOWS))
def test_core_flow_sqlite(ctxs, flow):
    compare(lambda ctx: CORE_FLOWS[flow](ctx, f"diff-models-{flow}"), ctxs)


@pytest.fixture(scope="module")
def mlruns_ctxs(tmp_path_factory):
    """Both servers on an empty mlruns folder each."""
    root = tmp_path_factory.mktemp("models-mlruns")
    env = {"MLFLOW_ALLOW_FILE_STORE": "true"}
    servers = {}
    for name, kind in (("oracle", "mlflow"), ("subject", subject_kind())):
        d = root / name / "mlruns"
        d.mkdir(parents=True)
        servers[name] = Server(kind=kind, backend_uri=str(d), workdir=root / name, extra_env=env)
    try:
        for s in servers.values():
            s.start()
    except RuntimeError as e:
        for s in servers.values():
            s.stop()
        pytest.fail(f"server did not start on an mlruns folder: {e}", pytrace=False)
    yield {k: Ctx(s) for k, s in servers.items()}
    for s in servers.values():
        s.stop()


@pytest.mark.parametrize("flow", sorted(CORE_FLOWS))
def test_core_flow_mlruns(mlruns_ctxs, flow):
    compare(lambda ctx: CORE_FLOWS[flow](ctx, f"fs-models-{flow}"), mlruns_ctxs)


# ---------------------------------------------------------------------------
# Search.

def _search_fixture(ctx: Ctx) -> dict:
    """Four models with params, tags, statuses and metrics (one on a dataset)."""
    if "models_search" in ctx.cache:
        return ctx.cache["models_search"]
    c = ctx.client
    exp = ctx.exp_id(c.create_experiment("diff-models-search"))
    run = c.create_run(exp, start_time=T0)
    rid = ctx.run_id(run.info.run_id)
    specs = [
        ("m1", {"lr": "0.1"}, {"team": "a"}, "clf", 0.5, "READY"),
        ("m2", {"lr": "0.01"}, {"team": "b"}, "clf", 0.9, "READY"),
        ("m3", {"lr": "0.1"}, {"team": "b"}, "reg", 0.7, None),
        ("m4", {}, {}, "reg", None, "FAILED"),
    ]
    ids = {}
    for name, params, tags, mtype, acc, status in specs:
        m = c.create_logged_model(exp, name=name, source_run_id=rid if name != "m4" else None,
                                  params=params, tags=tags, model_type=mtype)
        ids[name] = m.model_id
        if acc is not None:
            c.log_metric(rid, "acc", acc - 0.1, timestamp=T0, step=0, model_id=m.model_id)
            c.log_metric(rid, "acc", acc, timestamp=T0 + 1, step=1, model_id=m.model_id)
        if status:
            c.finalize_logged_model(m.model_id, status)
        _pause()
    c.log_metric(rid, "f1", 0.3, timestamp=T0, step=0, model_id=ids["m2"], dataset_name="eval", dataset_digest="d1")
    c.log_metric(rid, "f1", 0.8, timestamp=T0, step=0, model_id=ids["m3"], dataset_name="eval", dataset_digest="d1")
    c.log_metric(rid, "f1", 0.9, timestamp=T0, step=0, model_id=ids["m1"], dataset_name="test", dataset_digest="d2")
    ctx.cache["models_search"] = {"exp": exp, "run": rid, "ids": ids}
    return ctx.cache["models_search"]


FILTERS = [
    "", "params.lr = '0.1'", "params.lr != '0.1'", "params.lr LIKE '0.%'", "params.lr ILIKE '0.1'",
    "tags.team = 'a'", "tags.team IN ('a', 'b')", "tags.team NOT IN ('a')", "metrics.acc > 0.6",
    "metrics.acc >= 0.7 AND params.lr = '0.1'", "metrics.acc < 0.6", "metrics.acc = 0.9",
    "metrics.f1 > 0.5", "name = 'm2'", "name LIKE 'm%'", "name != 'm1'", "attributes.name ILIKE 'M1'",
    "name IN ('m1', 'm3')", "status = 'READY'", "status IN ('PENDING', 'FAILED')", "status != 'READY'",
    "creation_timestamp > 0", "creation_time < 1", "model_type = 'clf'", "model_type LIKE 'r%'",
    "last_updated_timestamp > 0", "params.lr = '0.1' and tags.team = 'b'", "tags.`team` = 'b'",
    "params.my-param = 'x'", "params.lr = \"0.1\"", "status = READY", "metrics.acc > 0.5 AND metrics.acc < 0.95",
]


@pytest.mark.parametrize("flt", FILTERS)
def test_search_filters(ctxs, flt):
    def s(ctx: Ctx):
        fx = _search_fixture(ctx)
        return _names(ctx.client.search_logged_models(experiment_ids=[fx["exp"]], filter_string=flt or None))
    compare(s, ctxs)


ORDERS = [
    [{"field_name": "name"}],
    [{"field_name": "name", "ascending": False}],
    [{"field_name": "metrics.acc", "ascending": False}],
    [{"field_name": "metrics.acc"}],
    [{"field_name": "creation_timestamp", "ascending": True}],
    [{"field_name": "model_type"}, {"field_name": "name", "ascending": False}],
    [{"field_name": "metrics.f1", "ascending": False, "dataset_name": "eval"}],
    [{"field_name": "metrics.f1", "dataset_name": "eval", "dataset_digest": "d1"}],
    [{"field_name": "status"}, {"field_name": "name"}],
]


@pytest.mark.parametrize("order", ORDERS, ids=[str(i) for i in range(len(ORDERS))])
def test_search_order(ctxs, order):
    def s(ctx: Ctx):
        fx = _search_fixture(ctx)
        return _names(ctx.client.search_logged_models(experiment_ids=[fx["exp"]], order_by=order))
    compare(s, ctxs)


def test_search_datasets_and_paging(ctxs):
    def s(ctx: Ctx):
        import mlflow

        fx = _search_fixture(ctx)
        c = ctx.client
        out = {
            "eval_d1": _names(c.search_logged_models(
                experiment_ids=[fx["exp"]], datasets=[{"dataset_name": "eval", "dataset_digest": "d1"}])),
            "eval_d1_filtered": _names(c.search_logged_models(
                experiment_ids=[fx["exp"]], filter_string="metrics.f1 > 0.5",
                datasets=[{"dataset_name": "eval", "dataset_digest": "d1"}])),
            "two_datasets": _names(c.search_logged_models(
                experiment_ids=[fx["exp"]], order_by=[{"field_name": "name"}],
                datasets=[{"dataset_name": "eval", "dataset_digest": "d1"},
                          {"dataset_name": "test", "dataset_digest": "d2"}])),
            "fluent_default_experiment": len(mlflow.search_logged_models(
                experiment_ids=[fx["exp"]], max_results=2, output_format="list")),
        }
        pages, token = [], None
        while True:
            page = c.search_logged_models(experiment_ids=[fx["exp"]], max_results=1,
                                          order_by=[{"field_name": "name"}], page_token=token)
            pages.append(_names(page))
            token = page.token
            if not token:
                break
        out["pages"] = pages
        default_order = c.search_logged_models(experiment_ids=[fx["exp"]], max_results=3)
        out["default_order_first_page"] = _names(default_order)
        out["has_next"] = bool(default_order.token)
        return out
    compare(s, ctxs)


def test_dataset_without_digest_deviation(ctxs):
    """A datasets entry with a name and no digest: MLflow's SQL store matches
    only metrics logged with no digest (so nothing here); mltrack matches any
    digest, as MLflow's file store does (decision 0004)."""
    def s(ctx: Ctx):
        fx = _search_fixture(ctx)
        return _names(ctx.client.search_logged_models(
            experiment_ids=[fx["exp"]], order_by=[{"field_name": "name"}],
            datasets=[{"dataset_name": "eval"}]))
    want = run_scenario(s, ctxs["oracle"])
    got = run_scenario(s, ctxs["subject"])
    assert want == [], want
    assert got == sorted(got) and len(got) == 2, got


def test_model_metrics(ctxs):
    """log_metric with model_id (and a dataset) shows on the model; the run
    keeps its latest values as before."""
    def s(ctx: Ctx):
        c = ctx.client
        exp = ctx.exp_id(c.create_experiment("diff-models-metrics"))
        run = c.create_run(exp, start_time=T0)
        rid = ctx.run_id(run.info.run_id)
        m = c.create_logged_model(exp, name="with-metrics", source_run_id=rid)
        c.log_metric(rid, "loss", 1.0, timestamp=T0, step=0, model_id=m.model_id)
        c.log_metric(rid, "loss", 0.5, timestamp=T0 + 1, step=1, model_id=m.model_id,
                     dataset_name="val", dataset_digest="abc")
        c.log_metric(rid, "plain", 3.0, timestamp=T0, step=0)
        from mlflow.entities import Metric
        c.log_batch(rid, metrics=[Metric("batched", 2.0, T0, 2, model_id=m.model_id)])
        got = c.get_run(rid)
        return {
            "model": _model_dict(c.get_logged_model(m.model_id)),
            "run_metrics": sorted((k, v) for k, v in got.data.metrics.items()),
            "history": [(x.value, x.step) for x in c.get_metric_history(rid, "loss")],
        }
    compare(s, ctxs)


# ---------------------------------------------------------------------------
# Errors: the status and error_code of both servers.

MISSING = "m-00000000000000000000000000000000"


def _error_fixture(ctx: Ctx) -> dict:
    if "models_errors" not in ctx.cache:
        c = ctx.client
        exp = ctx.exp_id(c.create_experiment("diff-models-errors"))
        run = c.create_run(exp, start_time=T0, run_name="err-run")
        m = c.create_logged_model(exp, name="err")
        ctx.cache["models_errors"] = {"exp": exp, "run": ctx.run_id(run.info.run_id), "model": m.model_id}
    return ctx.cache["models_errors"]


ERROR_CASES = [
    ("get_unknown", "GET", API + "/logged-models/" + MISSING, None, None),
    ("finalize_unknown", "PATCH", API + "/logged-models/" + MISSING, {"model_id": MISSING, "status": "LOGGED_MODEL_READY"}, None),
    ("delete_unknown", "DELETE", API + "/logged-models/" + MISSING, None, None),
    ("set_tags_unknown", "PATCH", API + "/logged-models/" + MISSING + "/tags", {"tags": [{"key": "a", "value": "b"}]}, None),
    ("delete_tag_unknown_model", "DELETE", API + "/logged-models/" + MISSING + "/tags/a", None, None),
    ("delete_tag_unknown_key", "DELETE", API + "/logged-models/{model}/tags/nope", None, None),
    ("params_unknown", "POST", API + "/logged-models/" + MISSING + "/params", {"model_id": MISSING, "params": [{"key": "a", "value": "1"}]}, None),
    ("params_relogged", "POST", API + "/logged-models/{model}/params", {"model_id": "{model}", "params": [{"key": "dup", "value": "1"}, {"key": "dup", "value": "1"}]}, None),
    ("params_missing_model_id", "POST", API + "/logged-models/{model}/params", {"params": []}, None),
    ("list_artifacts_unknown", "GET", API + "/logged-models/" + MISSING + "/artifacts/directories", None, None),
    ("list_artifacts_traversal", "GET", API + "/logged-models/{model}/artifacts/directories", None, {"artifact_directory_path": "../../x"}),
    ("list_artifacts_absolute", "GET", API + "/logged-models/{model}/artifacts/directories", None, {"artifact_directory_path": "/etc"}),
    ("file_missing_param", "GET", AJAX + "/logged-models/{model}/artifacts/files", None, None),
    ("file_traversal", "GET", AJAX + "/logged-models/{model}/artifacts/files", None, {"artifact_file_path": "../../../etc/passwd"}),
    ("file_traversal_encoded", "GET", AJAX + "/logged-models/{model}/artifacts/files", None, {"artifact_file_path": "a/%2e%2e/%2e%2e/x"}),
    ("file_unknown_model", "GET", AJAX + "/logged-models/" + MISSING + "/artifacts/files", None, {"artifact_file_path": "MLmodel"}),
    ("file_missing", "GET", AJAX + "/logged-models/{model}/artifacts/files", None, {"artifact_file_path": "nope.txt"}),
    ("create_no_experiment", "POST", API + "/logged-models", {}, None),
    ("create_unknown_experiment", "POST", API + "/logged-models", {"experiment_id": "987654"}, None),
    ("create_bad_experiment", "POST", API + "/logged-models", {"experiment_id": "abc"}, None),
    ("create_bad_name", "POST", API + "/logged-models", {"experiment_id": "{exp}", "name": "a/b"}, None),
    ("create_name_wrong_type", "POST", API + "/logged-models", {"experiment_id": "{exp}", "name": 5}, None),
    ("finalize_missing_status", "PATCH", API + "/logged-models/{model}", {"model_id": "{model}"}, None),
    ("finalize_missing_model_id", "PATCH", API + "/logged-models/{model}", {"status": "LOGGED_MODEL_READY"}, None),
    ("search_missing_experiment_ids", "POST", API + "/logged-models/search", {}, None),
    ("search_bad_experiment_id", "POST", API + "/logged-models/search", {"experiment_ids": ["abc"]}, None),
    ("search_experiment_ids_not_list", "POST", API + "/logged-models/search", {"experiment_ids": "1"}, None),
    ("search_bad_filter", "POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "filter": "metrics.x >"}, None),
    ("search_bad_entity", "POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "filter": "metric.x > 1"}, None),
    ("search_bad_operator", "POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "filter": "name > 'a'"}, None),
    ("search_bad_status", "POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "filter": "status = 'DONE'"}, None),
    ("search_or", "POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "filter": "name = 'a' OR name = 'b'"}, None),
    ("search_max_results_string", "POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "max_results": "x"}, None),
    ("search_bad_order_field", "POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "order_by": [{"field_name": "params.x"}]}, None),
    ("search_unknown_order_field", "POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "order_by": [{"field_name": "nope"}]}, None),
    ("search_dataset_without_name", "POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "datasets": [{"dataset_digest": "x"}]}, None),
    ("search_token_other_experiments", "POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "page_token": "eyJleHBlcmltZW50X2lkcyI6IFsiOTk5Il0sICJmaWx0ZXJfc3RyaW5nIjogbnVsbCwgIm9yZGVyX2J5IjogbnVsbCwgIm9mZnNldCI6IDF9"}, None),
    ("search_datasets_none", "POST", AJAX + "/experiments/search-datasets", {}, None),
    ("search_datasets_too_many", "POST", AJAX + "/experiments/search-datasets", {"experiment_ids": [str(i) for i in range(21)]}, None),
    ("search_datasets_bad_id", "POST", AJAX + "/experiments/search-datasets", {"experiment_ids": ["abc"]}, None),
    ("search_datasets_not_under_api", "POST", API + "/experiments/search-datasets", {"experiment_ids": ["{exp}"]}, None),
    ("log_inputs_no_run", "POST", API + "/runs/log-inputs", {}, None),
    ("log_inputs_unknown_run", "POST", API + "/runs/log-inputs", {"run_id": "ffffffffffffffffffffffffffffffff"}, None),
    ("log_inputs_long_digest", "POST", API + "/runs/log-inputs", {"run_id": "{run}", "datasets": [{"dataset": {"name": "d", "digest": "x" * 37, "source_type": "l", "source": "s"}}]}, None),
    ("log_inputs_long_tag_value", "POST", API + "/runs/log-inputs", {"run_id": "{run}", "datasets": [{"tags": [{"key": "k", "value": "v" * 501}], "dataset": {"name": "d", "digest": "x", "source_type": "l", "source": "s"}}]}, None),
    ("log_outputs_no_models", "POST", API + "/runs/outputs", {"run_id": "{run}"}, None),
    ("log_outputs_unknown_run", "POST", API + "/runs/outputs", {"run_id": "ffffffffffffffffffffffffffffffff", "models": [{"model_id": "{model}", "step": 0}]}, None),
    ("get_wrong_method", "PUT", API + "/logged-models/{model}", {}, None),
]

# Cases where mltrack answers differently on purpose (see docs/api.md): what
# MLflow 3.18 answers, what mltrack answers. Both sides are asserted.
MODEL_DEVIATIONS = {
    # MLflow stores LOGGED_MODEL_STATUS_UNSPECIFIED for an unknown status.
    "finalize_bad_status": ("PATCH", API + "/logged-models/{model}", {"model_id": "{model}", "status": "DONE"}, None,
                            {"status": 200}, {"status": 400, "error_code": "INVALID_PARAMETER_VALUE"}),
    "finalize_status_out_of_range": ("PATCH", API + "/logged-models/{model}", {"model_id": "{model}", "status": 9}, None,
                                     {"status": 200}, {"status": 400, "error_code": "INVALID_PARAMETER_VALUE"}),
    # MLflow fails inside its token decoder (500, which its client retries).
    "search_token_not_base64": ("POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "page_token": "zzz"}, None,
                                {"status": 500}, {"status": 400, "error_code": "INVALID_PARAMETER_VALUE"}),
    # MLflow answers 200 with a nonsense page for a negative page size.
    "search_negative_max_results": ("POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "max_results": -1}, None,
                                    {"status": 200}, {"status": 400, "error_code": "INVALID_PARAMETER_VALUE"}),
    # MLflow's SQL store fails on an unknown attribute or a non-numeric metric value (500).
    "search_unknown_attribute": ("POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "filter": "foo = 'a'"}, None,
                                 {"status": 500}, {"status": 400, "error_code": "INVALID_PARAMETER_VALUE"}),
    "search_metric_string": ("POST", API + "/logged-models/search", {"experiment_ids": ["{exp}"], "filter": "metrics.x > 'a'"}, None,
                             {"status": 500}, {"status": 400, "error_code": "INVALID_PARAMETER_VALUE"}),
}


def _subst(obj, values: dict):
    if isinstance(obj, str):
        for k, v in values.items():
            obj = obj.replace("{" + k + "}", v)
        return obj
    if isinstance(obj, list):
        return [_subst(v, values) for v in obj]
    if isinstance(obj, dict):
        return {k: _subst(v, values) for k, v in obj.items()}
    return obj


def _error_call(ctx: Ctx, method, path, body, params) -> dict:
    values = _error_fixture(ctx)
    path = _subst(path, values)
    if params and "%2e" in str(params):
        # Sent pre-encoded, so the server sees the escapes.
        q = "&".join(f"{k}={v}" for k, v in params.items())
        r = ctx.session.request(method, ctx.url + path + "?" + q, timeout=30)
        try:
            b = r.json()
        except ValueError:
            b = {}
        return {"status": r.status_code, "error_code": b.get("error_code") if isinstance(b, dict) else None}
    return ctx.error(method, path, json_body=_subst(body, values), params=_subst(params, values))


@pytest.mark.parametrize("cid,method,path,body,params", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_model_errors(ctxs, cid, method, path, body, params):
    want = run_scenario(lambda ctx: _error_call(ctx, method, path, body, params), ctxs["oracle"])
    got = run_scenario(lambda ctx: _error_call(ctx, method, path, body, params), ctxs["subject"])
    assert want.get("status", 0) >= 400, want
    if want.get("error_code") is None and isinstance(got, dict):
        # MLflow answered with its framework's HTML page: only the status counts.
        got = {**got, "error_code": None}
    assert_same(want, got)


@pytest.mark.parametrize("cid", sorted(MODEL_DEVIATIONS))
def test_model_deviations(ctxs, cid):
    method, path, body, params, mlflow_answer, mltrack_answer = MODEL_DEVIATIONS[cid]
    want = run_scenario(lambda ctx: _error_call(ctx, method, path, body, params), ctxs["oracle"])
    got = run_scenario(lambda ctx: _error_call(ctx, method, path, body, params), ctxs["subject"])
    assert {k: want.get(k) for k in mlflow_answer} == mlflow_answer, want
    assert {k: got.get(k) for k in mltrack_answer} == mltrack_answer, got


def test_wire_shape(ctxs):
    """The raw JSON of create, get, search and finalize, keys and all."""
    def s(ctx: Ctx):
        fx = _error_fixture(ctx)
        created = ctx.raw("POST", API + "/logged-models", json_body={
            "experiment_id": fx["exp"], "name": "wire", "model_type": "t",
            "params": [{"key": "a", "value": "1"}], "tags": [{"key": "k", "value": "v"}]})
        mid = created["body"]["model"]["info"]["model_id"]
        return {
            "created": created,
            "bare": ctx.raw("POST", API + "/logged-models", json_body={"experiment_id": fx["exp"], "name": "bare"}),
            "get": ctx.raw("GET", API + "/logged-models/" + mid),
            "ajax_get": ctx.raw("GET", AJAX + "/logged-models/" + mid),
            "finalize_number": ctx.raw("PATCH", API + "/logged-models/" + mid, json_body={"model_id": mid, "status": 2}),
            "set_tags": ctx.raw("PATCH", API + "/logged-models/" + mid + "/tags", json_body={"tags": [{"key": "x", "value": "y"}]}),
            "delete_tag": ctx.raw("DELETE", API + "/logged-models/" + mid + "/tags/x"),
            "params": ctx.raw("POST", API + "/logged-models/" + mid + "/params", json_body={"model_id": mid, "params": [{"key": "b", "value": "2"}]}),
            "list_empty": ctx.raw("GET", API + "/logged-models/" + mid + "/artifacts/directories"),
            "search_empty_ids": ctx.raw("POST", API + "/logged-models/search", json_body={"experiment_ids": []}),
            "search_unknown_exp": ctx.raw("POST", API + "/logged-models/search", json_body={"experiment_ids": ["424242"]}),
            "search_one": ctx.raw("POST", API + "/logged-models/search", json_body={
                "experiment_ids": [fx["exp"]], "filter": "name = 'wire'"}),
            "outputs": ctx.raw("POST", API + "/runs/outputs", json_body={"run_id": fx["run"], "models": [{"model_id": mid, "step": 3}]}),
            "inputs": ctx.raw("POST", API + "/runs/log-inputs", json_body={"run_id": fx["run"], "models": [{"model_id": mid}]}),
            "run": ctx.raw("GET", API + "/runs/get", params={"run_id": fx["run"]}),
            "delete": ctx.raw("DELETE", API + "/logged-models/" + mid),
            "get_deleted": ctx.error("GET", API + "/logged-models/" + mid),
            "get_deleted_allowed": ctx.raw("GET", API + "/logged-models/" + mid, params={"allow_deleted": "True"}),
            "get_deleted_not_true": ctx.error("GET", API + "/logged-models/" + mid, params={"allow_deleted": "1"}),
        }
    compare(s, ctxs)


def test_runs_uri_with_model(ctxs, tmp_path):
    """models:/ and runs:/ URIs resolve through the logged-model routes."""
    def s(ctx: Ctx):
        import mlflow

        out = pyfunc_flow(ctx, "diff-models-uris")
        model_id = ctx.client.search_logged_models(
            experiment_ids=[mlflow.get_experiment_by_name("diff-models-uris").experiment_id])[0].model_id
        dst = tmp_path / f"{ctx.server.kind}-{ctx.server.port}"
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{model_id}", dst_path=str(dst)))
        return {"prediction": out["prediction"], "files": sorted(p.name for p in local.iterdir())}
    compare(s, ctxs)
