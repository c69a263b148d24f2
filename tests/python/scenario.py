"""Runs one piece of client code against both servers and compares the results."""

from __future__ import annotations

import json
import pprint
import traceback
from typing import Any, Callable

import requests

from harness import Normaliser, Server, to_plain


class Ctx:
    """Per-server handle a scenario uses: MLflow client, raw HTTP, id labels."""

    def __init__(self, server: Server):
        from mlflow import MlflowClient

        self.server = server
        self.url = server.url
        self.client = MlflowClient(tracking_uri=server.url)
        self.session = requests.Session()
        self.cache: dict[str, Any] = {}  # state shared by the tests of one scenario family
        self.norm = Normaliser()

    # --- raw HTTP -----------------------------------------------------------
    def raw(self, method: str, path: str, *, json_body=None, params=None,
            data=None, headers=None) -> dict:
        """Status and decoded body; never raises for HTTP errors."""
        kwargs: dict[str, Any] = {"params": params, "headers": headers or {}, "timeout": 30}
        if json_body is not None:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
        r = self.session.request(method, self.url + path, **kwargs)
        try:
            body = r.json()
        except ValueError:
            body = {"_text": r.text[:200]}
        return {"status": r.status_code, "body": body}

    def error(self, method: str, path: str, **kw) -> dict:
        """Only what error comparisons look at: HTTP status and error_code."""
        r = self.raw(method, path, **kw)
        body = r["body"] if isinstance(r["body"], dict) else {}
        return {"status": r["status"], "error_code": body.get("error_code"),
                "_message": body.get("message") or body.get("_text")}

    # --- fluent API ---------------------------------------------------------
    def fluent(self):
        import mlflow

        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(self.url)
        return mlflow

    # --- id bookkeeping -----------------------------------------------------
    def run_id(self, run_id: str) -> str:
        self.norm.run(run_id)
        return run_id

    def exp_id(self, exp_id: str) -> str:
        self.norm.exp(exp_id)
        return exp_id


def run_scenario(fn: Callable[[Ctx], Any], ctx: Ctx) -> Any:
    """Result of fn(ctx) normalised; an exception becomes part of the result so
    a subject that fails differently from the oracle shows up as a diff."""
    try:
        result = to_plain(fn(ctx))
    except Exception as e:  # noqa: BLE001 -- any failure is data to compare
        code = getattr(e, "error_code", None)
        result = {"exception": type(e).__name__, "error_code": code,
                  "_message": str(e)[:300], "_trace": traceback.format_exc(limit=3)[-600:]}
    return ctx.norm(result)


def strip_private(obj):
    """Drops `_`-prefixed keys (kept for diagnostics, not compared)."""
    if isinstance(obj, dict):
        return {k: strip_private(v) for k, v in obj.items() if not (isinstance(k, str) and k.startswith("_"))}
    if isinstance(obj, list):
        return [strip_private(v) for v in obj]
    return obj


def compare(fn: Callable[[Ctx], Any], ctxs: dict[str, Ctx]) -> None:
    want = run_scenario(fn, ctxs["oracle"])
    got = run_scenario(fn, ctxs["subject"])
    assert_same(want, got)


def assert_same(want, got) -> None:
    if strip_private(want) == strip_private(got):
        return
    diff = first_difference(strip_private(want), strip_private(got))
    raise AssertionError(
        f"subject differs from mlflow at {diff}\n"
        f"--- mlflow (oracle):\n{_fmt(want)}\n--- subject:\n{_fmt(got)}")


def _fmt(obj) -> str:
    text = pprint.pformat(obj, width=120, sort_dicts=True)
    return text if len(text) < 6000 else text[:6000] + "\n... (truncated)"


def first_difference(a, b, path="$") -> str:
    if type(a) is not type(b):
        return f"{path}: {json.dumps(a, default=str)[:200]} != {json.dumps(b, default=str)[:200]}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                return f"{path}.{k}: missing in oracle, subject has {json.dumps(b[k], default=str)[:200]}"
            if k not in b:
                return f"{path}.{k}: missing in subject, oracle has {json.dumps(a[k], default=str)[:200]}"
            if a[k] != b[k]:
                return first_difference(a[k], b[k], f"{path}.{k}")
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {json.dumps(a, default=str)[:200]} != {json.dumps(b, default=str)[:200]}"
