# Runs the operations of TestRealMLflowReadsWhatWeWrite with the real MLflow FileStore, for a
# byte diff of the two folders: python ops.py A; FILESTORE_KEEP=B go test -run RealMLflow;
# python norm.py A An; python norm.py B.before Bn; (fix the root path in Bn); diff -r An Bn
import os, sys, math
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
from mlflow.store.tracking.file_store import FileStore
from mlflow.entities import Metric, Param, RunTag, ExperimentTag, RunStatus
fs = FileStore(sys.argv[1])
eid = fs.create_experiment("exp: one", tags=[ExperimentTag("a/b", "c"), ExperimentTag("k", "multi\nline")])
r = fs.create_run(eid, "alice", 1700000000000, [RunTag("mlflow.runName", "r1"), RunTag("x/y", "z")], "r1")
rid = r.info.run_id
fs.log_batch(rid, [Metric("loss", 1.0, 1, 0), Metric("loss", float("nan"), 2, 1), Metric("loss", float("-inf"), 3, 2), Metric("nested/m", 1e-7, 4, 3)],
             [Param("lr", "0.1"), Param("p/q", "yes")], [RunTag("note", "it's")])
fs.update_run_info(rid, RunStatus.FINISHED, 1700000005000, "renamed run")
r2 = fs.create_run(eid, "bob", 1700000000001, [RunTag("mlflow.runName", "r2")], "r2")
fs.delete_run(r2.info.run_id)
gone = fs.create_experiment("gone")
fs.create_run(gone, "u", 5, [RunTag("mlflow.runName", "r3")], "r3")
fs.delete_experiment(gone)
fs.rename_experiment(eid, "exp two")
