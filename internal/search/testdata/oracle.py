"""Differential oracle: runs real MLflow's search parsing (through a real
SqlAlchemyStore on a throwaway SQLite db, so store-side comparator checks are
included) over testdata/oracle_inputs.json and writes testdata/oracle.json.

Run from anywhere with a Python that has mlflow installed:
    python internal/search/testdata/oracle.py
The Go tests only read oracle.json; they never need Python.
"""

import json
import math
import os
import sys
import tempfile

from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchUtils

HERE = os.path.dirname(os.path.abspath(__file__))


def jsonable(v):
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, float) and (math.isinf(v) or math.isnan(v)):
        return str(v)
    return v


def run_filter(store, exp_id, s):
    store.search_runs([exp_id], s, ViewType.ALL, max_results=1)
    out = []
    for c in SearchUtils.parse_search_filter(s):
        v = c["value"]
        if c["type"] == "metric":
            v = float(v)
        out.append({"type": c["type"], "key": SearchUtils.translate_key_alias(c["key"]),
                    "op": c["comparator"].upper(), "value": jsonable(v)})
    return out


def experiment_filter(store, s):
    store.search_experiments(ViewType.ALL, max_results=1, filter_string=s)
    out = []
    for c in SearchExperimentsUtils.parse_search_filter(s):
        out.append({"type": c["type"], "key": c["key"], "op": c["comparator"].upper(),
                    "value": jsonable(c["value"])})
    return out


def run_order_by(store, exp_id, s):
    store.search_runs([exp_id], "", ViewType.ALL, max_results=1, order_by=[s])
    t, k, asc = SearchUtils.parse_order_by_for_search_runs(s)
    return {"type": t, "key": SearchUtils.translate_key_alias(k), "ascending": asc}


def experiment_order_by(store, s):
    store.search_experiments(ViewType.ALL, max_results=1, order_by=[s])
    t, k, asc = SearchExperimentsUtils.parse_order_by_for_search_experiments(s)
    return {"type": t, "key": k, "ascending": asc}


def main():
    with open(os.path.join(HERE, "oracle_inputs.json")) as f:
        inputs = json.load(f)
    tmp = tempfile.mkdtemp()
    store = SqlAlchemyStore(f"sqlite:///{tmp}/o.db", f"{tmp}/art")
    exp_id = store.create_experiment("oracle")
    fns = {
        "run_filter": lambda s: run_filter(store, exp_id, s),
        "experiment_filter": lambda s: experiment_filter(store, s),
        "run_order_by": lambda s: run_order_by(store, exp_id, s),
        "experiment_order_by": lambda s: experiment_order_by(store, s),
    }
    result = {}
    for kind, cases in inputs.items():
        rows = []
        for s in cases:
            row = {"input": s}
            try:
                row["result"] = fns[kind](s)
            except MlflowException as e:
                row["error"] = e.message
            except Exception as e:  # noqa: BLE001 - record non-MLflow crashes too
                row["crash"] = f"{type(e).__name__}: {e}"
            rows.append(row)
        result[kind] = rows
    with open(os.path.join(HERE, "oracle.json"), "w") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {sum(len(v) for v in result.values())} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
