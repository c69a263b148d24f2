"""Differential search_runs, paging and get-history-bulk-interval scenarios.

Each server gets the same data set once (cached in its Ctx); every query in the
tables below is then its own test, so a report lists exactly which ones differ.
"""

from __future__ import annotations

import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType

from scenario import Ctx, assert_same, run_scenario

T0 = 1_600_000_000

# name, start offset, metrics, params, tags, status
RUNS = [
    ("r00", 0, {"acc": 0.10, "loss": 5.0}, {"lr": "0.1", "opt": "adam"}, {"team": "red", "note": "Alpha"}, "FINISHED"),
    ("r01", 1, {"acc": 0.50, "loss": 3.0}, {"lr": "0.01", "opt": "sgd"}, {"team": "blue", "note": "alphabet"}, "FINISHED"),
    ("r02", 2, {"acc": 0.90}, {"lr": "0.001"}, {"team": "red"}, "FAILED"),
    ("r03", 3, {"loss": 1.0}, {"opt": "Adam"}, {"note": "beta"}, "RUNNING"),
    ("r04", 4, {}, {}, {}, "KILLED"),
    ("r05", 5, {"acc": 0.50, "loss": 2.0}, {"lr": "0.1", "opt": "adam"}, {"team": "green", "note": "ALPHA"}, "FINISHED"),
    ("r06", 6, {"acc": -1.0}, {"lr": "1e-4", "opt": "sgd"}, {"team": "red", "note": "gamma 1"}, "FINISHED"),
    ("special name", 7, {"model class": 3.0}, {"a-b": "x"}, {"my key": "v"}, "FINISHED"),
]
N_PAGING = 23


def setup_search(ctx: Ctx) -> dict:
    if "search" in ctx.cache:
        return ctx.cache["search"]
    c = ctx.client
    exp = ctx.exp_id(c.create_experiment("diff-search"))
    ids = {}
    for name, off, metrics, params, tags, status in RUNS:
        run = c.create_run(exp, run_name=name, start_time=T0 + off * 1000)
        rid = ctx.run_id(run.info.run_id)
        ids[name] = rid
        c.log_batch(rid,
                    metrics=[Metric(k, v, T0, 0) for k, v in metrics.items()],
                    params=[Param(k, v) for k, v in params.items()],
                    tags=[RunTag(k, v) for k, v in tags.items()])
        if status == "RUNNING":
            c.update_run(rid, status=status)
        else:
            c.set_terminated(rid, status=status, end_time=T0 + off * 1000 + 500)
    c.delete_run(ids["r06"])
    c.restore_run(ids["r06"])
    deleted = c.create_run(exp, run_name="deleted", start_time=T0 + 99_000)
    ids["deleted"] = ctx.run_id(deleted.info.run_id)
    c.delete_run(deleted.info.run_id)

    page_exp = ctx.exp_id(c.create_experiment("diff-search-paging"))
    for i in range(N_PAGING):
        run = c.create_run(page_exp, run_name=f"p{i:02d}", start_time=T0 + (i % 7) * 1000)
        ctx.run_id(run.info.run_id)
        c.log_metric(run.info.run_id, "m", float(i % 5), timestamp=T0, step=0)
    ctx.cache["search"] = {"exp": exp, "ids": ids, "page_exp": page_exp}
    return ctx.cache["search"]


# (id, filter, order_by, view type)
QUERIES = [
    ("default_order", "", None, None),
    ("metric_gt", "metrics.acc > 0.4", None, None),
    ("metric_ge_le", "metrics.acc >= 0.5 AND metrics.acc <= 0.9", None, None),
    ("metric_eq", "metrics.acc = 0.5", None, None),
    ("metric_ne", "metrics.acc != 0.5", None, None),
    ("metric_lt_negative", "metrics.acc < 0", None, None),
    ("metric_and_param", "metrics.acc > 0.0 AND params.opt = 'adam'", None, None),
    ("param_eq", "params.lr = '0.1'", None, None),
    ("param_ne", "params.opt != 'adam'", None, None),
    ("param_like", "params.opt LIKE 'a%'", None, None),
    ("param_ilike", "params.opt ILIKE 'a%'", None, None),
    ("param_alias", "param.lr = '0.01'", None, None),
    ("tag_eq", "tags.team = 'red'", None, None),
    ("tag_like", "tags.note LIKE '%lpha%'", None, None),
    ("tag_ilike", "tags.note ILIKE '%LPHA%'", None, None),
    ("tag_like_underscore", "tags.note LIKE 'gamma_1'", None, None),
    ("tag_ne", "tags.team != 'red'", None, None),
    ("backtick_keys", "metrics.`model class` > 1 AND params.`a-b` = 'x' AND tags.`my key` = 'v'", None, None),
    ("dquote_key", 'tags."my key" = \'v\'', None, None),
    ("attr_status", "attributes.status = 'FINISHED'", None, None),
    ("attr_status_ne", "status != 'FINISHED'", None, None),
    ("attr_run_name", "attributes.run_name = 'r01'", None, None),
    ("attr_run_name_like", "run_name LIKE 'r0%'", None, None),
    ("attr_run_name_ilike", "attributes.run_name ILIKE 'SPECIAL%'", None, None),
    ("attr_start_time", f"attributes.start_time >= {T0 + 3000}", None, None),
    ("attr_created_alias", f"created < {T0 + 2000}", None, None),
    ("attr_end_time", f"attributes.end_time > {T0 + 4000}", None, None),
    ("attr_user_id", "attributes.user_id != 'nobody'", None, None),
    ("run_id_in", "attributes.run_id IN ({r01}, {r03})", None, None),
    ("run_id_not_in", "attributes.run_id NOT IN ({r01}, {r03})", None, None),
    ("run_id_eq", "attributes.run_id = {r02}", None, None),
    ("parent_tag_absent", "tags.mlflow.parentRunId = 'x'", None, None),
    ("order_metric_asc", "", ["metrics.acc ASC"], None),
    ("order_metric_desc", "", ["metrics.acc DESC"], None),
    ("order_metric_then_name", "", ["metrics.acc DESC", "attributes.run_name ASC"], None),
    ("order_param_asc", "", ["params.lr ASC"], None),
    ("order_param_desc", "", ["params.opt DESC"], None),
    ("order_tag", "", ["tags.note ASC"], None),
    ("order_attr_name_desc", "", ["attributes.run_name DESC"], None),
    ("order_start_time_asc", "", ["start_time ASC"], None),
    ("order_end_time", "", ["attributes.end_time DESC"], None),
    ("order_status", "", ["status ASC", "run_name DESC"], None),
    ("order_default_dir", "", ["metrics.loss"], None),
    ("view_deleted", "", None, ViewType.DELETED_ONLY),
    ("view_all", "", ["run_name ASC"], ViewType.ALL),
]


def _fill(filter_string: str, ids: dict) -> str:
    for name, rid in ids.items():
        filter_string = filter_string.replace("{" + name + "}", f"'{rid}'")
    return filter_string


@pytest.mark.parametrize("qid,filt,order_by,view", QUERIES, ids=[q[0] for q in QUERIES])
def test_search_runs(qid, filt, order_by, view, ctxs):
    def scenario(ctx: Ctx):
        s = setup_search(ctx)
        runs = ctx.client.search_runs([s["exp"]], _fill(filt, s["ids"]), order_by=order_by,
                                      run_view_type=view or ViewType.ACTIVE_ONLY)
        return [r.info.run_name for r in runs]

    assert_same(run_scenario(scenario, ctxs["oracle"]), run_scenario(scenario, ctxs["subject"]))


def test_search_runs_full_entities(ctxs):
    """Whole Run objects as search returns them (not just names)."""
    def scenario(ctx: Ctx):
        s = setup_search(ctx)
        return ctx.client.search_runs([s["exp"]], "attributes.run_name LIKE 'r0%'", order_by=["run_name ASC"])

    assert_same(run_scenario(scenario, ctxs["oracle"]), run_scenario(scenario, ctxs["subject"]))


@pytest.mark.parametrize("max_results,order_by", [
    (5, None), (1, ["metrics.m DESC", "run_name ASC"]), (7, ["attributes.run_name ASC"]), (23, None), (100, None),
])
def test_search_runs_paging(max_results, order_by, ctxs):
    def scenario(ctx: Ctx):
        s = setup_search(ctx)
        pages, token = [], None
        while True:
            page = ctx.client.search_runs([s["page_exp"]], max_results=max_results, page_token=token,
                                          order_by=order_by or ["start_time DESC", "run_name ASC"])
            pages.append({"names": [r.info.run_name for r in page], "more": bool(page.token)})
            token = page.token
            if not token or len(pages) > 40:
                return pages

    assert_same(run_scenario(scenario, ctxs["oracle"]), run_scenario(scenario, ctxs["subject"]))


def test_search_runs_raw(ctxs):
    """The raw wire response, including next_page_token presence and field shapes."""
    def scenario(ctx: Ctx):
        s = setup_search(ctx)
        r = ctx.raw("POST", "/api/2.0/mlflow/runs/search", json_body={
            "experiment_ids": [s["exp"]], "filter": "metrics.acc > 0", "max_results": 2,
            "order_by": ["metrics.acc DESC"]})
        # The order of entries inside data.{metrics,params,tags} is not a
        # contract (MLflow's follows its ORM); the client turns them into dicts.
        for run in r["body"].get("runs", []):
            for field in ("metrics", "params", "tags"):
                run.get("data", {}).get(field, []).sort(key=lambda kv: kv["key"])
        return r

    assert_same(run_scenario(scenario, ctxs["oracle"]), run_scenario(scenario, ctxs["subject"]))


# ---------------------------------------------------------------------------
# get-history-bulk-interval

N_STEPS = 3000


def setup_bulk(ctx: Ctx) -> dict:
    if "bulk" in ctx.cache:
        return ctx.cache["bulk"]
    c = ctx.client
    exp = ctx.exp_id(c.create_experiment("diff-bulk-interval"))
    runs = []
    for r, (n, offset) in enumerate([(N_STEPS, 0), (400, 50), (1, 7)]):
        run = c.create_run(exp, run_name=f"bulk{r}", start_time=T0 + r)
        rid = ctx.run_id(run.info.run_id)
        runs.append(rid)
        metrics = [Metric("loss", 1.0 / (i + 1), T0 + i, offset + i * (r + 1)) for i in range(n)]
        c.log_batch(rid, metrics=metrics)
    ctx.cache["bulk"] = {"runs": runs}
    return ctx.cache["bulk"]


BULK = [
    ("default_one_run", [0], {}),
    ("max10", [0], {"max_results": 10}),
    ("max1", [0], {"max_results": 1}),
    ("max2500", [0], {"max_results": 2500}),
    ("max7_two_runs", [0, 1], {"max_results": 7}),
    ("max100_three_runs", [0, 1, 2], {"max_results": 100}),
    ("range", [0], {"start_step": 100, "end_step": 200, "max_results": 7}),
    ("range_two_runs", [0, 1], {"start_step": 40, "end_step": 900, "max_results": 13}),
    ("range_single_step", [0, 1], {"start_step": 50, "end_step": 50}),
    ("range_outside", [2], {"start_step": 100, "end_step": 200}),
    ("missing_key", [0], {"metric_key": "nope"}),
    ("err_start_without_end", [0], {"start_step": 5}),
    ("err_start_gt_end", [0], {"start_step": 10, "end_step": 5}),
    ("err_max_too_big", [0], {"max_results": 2501}),
    ("err_max_zero", [0], {"max_results": 0}),
    ("err_no_runs", [], {}),
]


@pytest.mark.parametrize("bid,run_idx,params", BULK, ids=[b[0] for b in BULK])
def test_bulk_interval(bid, run_idx, params, ctxs):
    def scenario(ctx: Ctx):
        runs = setup_bulk(ctx)["runs"]
        query = {"run_ids": [runs[i] for i in run_idx], "metric_key": "loss", **params}
        r = ctx.raw("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", params=query)
        if r["status"] != 200:
            return {"status": r["status"], "error_code": r["body"].get("error_code"),
                    "_message": r["body"].get("message")}
        metrics = r["body"].get("metrics", [])
        return {"status": 200, "count": len(metrics), "metrics": metrics}

    assert_same(run_scenario(scenario, ctxs["oracle"]), run_scenario(scenario, ctxs["subject"]))


def test_metric_history_long(ctxs):
    """get_metric_history over >2500 points (client pages through it)."""
    def scenario(ctx: Ctx):
        runs = setup_bulk(ctx)["runs"]
        h = ctx.client.get_metric_history(runs[0], "loss")
        return {"n": len(h), "steps": sorted(m.step for m in h)[::97],
                "raw_paged": ctx.raw("GET", "/api/2.0/mlflow/metrics/get-history",
                                     params={"run_id": runs[1], "metric_key": "loss", "max_results": 3})}

    assert_same(run_scenario(scenario, ctxs["oracle"]), run_scenario(scenario, ctxs["subject"]))
