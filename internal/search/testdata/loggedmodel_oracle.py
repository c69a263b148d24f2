"""Differential oracle for logged-model searches: runs real MLflow's
parse_filter_string and its SQL store's search_logged_models (on a throwaway
SQLite database, so the store's own checks are included) over the inputs
below and writes testdata/loggedmodel_oracle.json.

    python internal/search/testdata/loggedmodel_oracle.py

The Go tests only read the JSON.
"""

import json
import math
import os
import sys
import tempfile

from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.search_logged_model_utils import parse_filter_string

HERE = os.path.dirname(os.path.abspath(__file__))

FILTERS = [
    "metrics.x > 1 AND params.y = 'a'",
    "name = 'm'",
    "name='m'",
    "creation_time > 5",
    "creation_timestamp >= 1700000000000",
    "creation_timestamp_ms < 5",
    "last_updated_timestamp != 5",
    "params.`a b` = 'x'",
    'params."a b" = "x"',
    'params.a = "x"',
    "metric.x > 1",
    "attribute.name = 'x'",
    "Metrics.x > 1",
    "status = 'READY'",
    "status != 'PENDING'",
    "status IN ('READY','PENDING')",
    "status NOT IN ('FAILED')",
    "status = 'LOGGED_MODEL_READY'",
    "status IN ('READY', 'NOPE')",
    "status LIKE 'R%'",
    "name IN ('a')",
    "name IN ('a', 'b')",
    "name NOT IN ('a', 'b')",
    "creation_timestamp > 1.5",
    "name = 'a' OR name = 'b'",
    "name = 'a'; name = 'b'",
    "name LIKE 'a%'",
    "name like 'a%'",
    "name ilike 'A%'",
    "name NOT LIKE 'a'",
    "metrics.x IN (1,2)",
    "metrics.x LIKE 1",
    "tags.t = 'v' and name = 'x'",
    "name = 1",
    "name = a",
    "x",
    "name = 'it''s'",
    "params.lr IS NULL",
    "name != 'x'",
    "model_id = 'm-1'",
    "source_run_id = 'abc'",
    "model_type = 'agent'",
    "experiment_id = '1'",
    "status_message = 'x'",
    "artifact_location LIKE '%x'",
    "metrics.`a.b` >= 0.5",
    "tags.a.b = 'x'",
    "tags.`mlflow.user` = 'x'",
    "params.x = 'a' AND",
    "metrics.x > -1",
    "metrics.x > 1e3",
    "metrics.x = 0",
    "(name = 'a')",
    "attributes.name = 'x'",
    "attributes.status = 'READY'",
    "params.x LIKE '%a%'",
    "params.x ILIKE '%A%'",
    "tags.x IN ('a', 'b')",
    "params.x != 'a'",
    "metrics.x <= 1 AND metrics.y >= 2 AND params.p = 'q' AND tags.t = 'u'",
    "",
    "name = ''",
    "params.my-param = 'x'",
    "params.`my-param` = 'x'",
    "metrics.x >= 1.5e-3",
    "metrics.x>=1",
    "tags.mlflow.source.type = 'LOCAL'",
    "name = \"m\"",
    "name LIKE '%'",
    "metrics.x > 1 and",
    "and name = 'x'",
    "name = 'x' AND AND name = 'y'",
    "metrics.x != -0.5",
    "params.p IN ('a')",
    "model_id IN ('m-1', 'm-2')",
    "status = READY",
    "status IN ('READY')",
    "creation_timestamp = 5",
    "metrics.acc > 0.5 AND metrics.acc < 0.9",
    "name = 'a' name = 'b'",
    "name",
    "name =",
    "= 'a'",
    "metrics.x > 1e400",
]

ORDER_BY = [
    "name", "model_id", "creation_timestamp", "creation_time", "last_updated_timestamp",
    "status", "metrics.acc", "metrics.a.b", "params.x", "tags.t", "attributes.name", "foo",
    "model_type", "source_run_id", "experiment_id",
]


def jsonable(v):
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, float) and (math.isinf(v) or math.isnan(v)):
        return str(v)
    return v


def main():
    tmp = tempfile.mkdtemp()
    store = SqlAlchemyStore(f"sqlite:///{tmp}/o.db", f"{tmp}/art")
    exp_id = store.create_experiment("oracle")
    result = {"filter": [], "order_by": []}
    for s in FILTERS:
        row = {"input": s}
        try:
            store.search_logged_models([exp_id], filter_string=s or None, max_results=1)
            row["result"] = [
                {"type": c.entity.type.value, "key": c.entity.key, "op": c.op, "value": jsonable(c.value)}
                for c in parse_filter_string(s)
            ]
        except MlflowException as e:
            row["error"] = e.message
        except Exception as e:  # noqa: BLE001 - record non-MLflow crashes too
            row["crash"] = f"{type(e).__name__}: {e}"
        result["filter"].append(row)
    for s in ORDER_BY:
        row = {"input": s}
        try:
            store.search_logged_models([exp_id], order_by=[{"field_name": s}], max_results=1)
            row["result"] = "ok"
        except MlflowException as e:
            row["error"] = e.message
        except Exception as e:  # noqa: BLE001
            row["crash"] = f"{type(e).__name__}: {e}"
        result["order_by"].append(row)
    with open(os.path.join(HERE, "loggedmodel_oracle.json"), "w") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(FILTERS) + len(ORDER_BY)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
