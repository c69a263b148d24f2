# The peer for BenchmarkSearch10k: MLflow's own FileStore answering the same
# search over the generated folder (see gen_test.go). Prints seconds per search.
import os, sys, time
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
from mlflow.entities import ViewType
from mlflow.store.tracking.file_store import FileStore

fs = FileStore(sys.argv[1])
ids = [e.experiment_id for e in fs.search_experiments() if e.experiment_id != "0"]
t = time.time()
runs, _ = fs._search_runs(ids, "metrics.metric_1 > 10 and params.param_0 != '3' and tags.tag_1 LIKE 'v%'",
                          ViewType.ACTIVE_ONLY, 100, ["metrics.metric_2 DESC"], None)
print(f"mlflow FileStore search: {time.time() - t:.2f}s for {len(runs)} runs")
