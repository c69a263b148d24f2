# Logs to an existing run and creates a new one with the real MLflow client,
# for the freshness half of TestRealMLflowReadsWhatWeWrite.
import os, sys
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
from mlflow import MlflowClient

root, exp_id, run_id = sys.argv[1:4]
c = MlflowClient(tracking_uri="file://" + root)
c.log_metric(run_id, "from_python", 42.0, timestamp=7, step=3)
c.log_param(run_id, "py_param", "v")
c.set_tag(run_id, "py_tag", "t")
r = c.create_run(exp_id, run_name="py-run")
print(r.info.run_id)
