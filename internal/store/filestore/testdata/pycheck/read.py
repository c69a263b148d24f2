# Reads an mlruns folder with the real MLflow FileStore and prints it as JSON,
# for TestRealMLflowReadsWhatWeWrite (run manually: see the test's comment).
import json, math, os, sys
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
from mlflow.entities import ViewType
from mlflow.store.tracking.file_store import FileStore

def num(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return str(v)
    return v

fs = FileStore(sys.argv[1])
out = {"experiments": [], "runs": []}
exps = fs.search_experiments(view_type=ViewType.ALL, max_results=1000)
for e in sorted(exps, key=lambda e: e.experiment_id):
    out["experiments"].append({"id": e.experiment_id, "name": e.name, "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage, "creation_time": e.creation_time,
        "last_update_time": e.last_update_time, "tags": dict(sorted(e.tags.items()))})
    for r in fs.search_runs([e.experiment_id], "", ViewType.ALL, max_results=1000):
        hist = {}
        for k in r.data.metrics:
            hist[k] = [[m.timestamp, num(m.value), m.step] for m in fs.get_metric_history(r.info.run_id, k)]
        out["runs"].append({"run_id": r.info.run_id, "run_name": r.info.run_name, "experiment_id": r.info.experiment_id,
            "user_id": r.info.user_id, "status": r.info.status, "start_time": r.info.start_time,
            "end_time": r.info.end_time, "artifact_uri": r.info.artifact_uri, "lifecycle_stage": r.info.lifecycle_stage,
            "params": dict(sorted(r.data.params.items())), "tags": dict(sorted(r.data.tags.items())),
            "metrics": {k: num(v) for k, v in sorted(r.data.metrics.items())}, "history": hist})
out["runs"].sort(key=lambda r: r["run_id"])
print(json.dumps(out, indent=1, sort_keys=True))
