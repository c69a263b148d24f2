# Writes testdata/mlruns-models with the real MLflow client on its file store (python client
# only, so absent fields are null rather than the server's ''):
#   python models_fixture.py /tmp/mlruns-models && cp -r /tmp/mlruns-models ../mlruns-models
import os, sys

os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import LoggedModelInput, LoggedModelOutput, LoggedModelStatus, Metric

uri = "file://" + os.path.abspath(sys.argv[1])
c = MlflowClient(tracking_uri=uri)
eid = c.create_experiment("models-exp")
rid = c.create_run(eid, run_name="r").info.run_id
m = c.create_logged_model(eid, name="my-model", source_run_id=rid, params={"lr": "0.1", "a/b": "c"},
                          tags={"t1": "v1", "x/y": "z"}, model_type="sklearn")
m2 = c.create_logged_model(eid)
c.set_logged_model_tags(m.model_id, {"t2": "it's", "t1": "new"})
c.delete_logged_model_tag(m.model_id, "x/y")
c.log_model_params(m.model_id, {"p2": "v2"})
c.finalize_logged_model(m.model_id, LoggedModelStatus.READY)
c.log_batch(rid, metrics=[
    Metric("acc", 0.5, 1000, 0, model_id=m.model_id),
    Metric("acc", 0.7, 1001, 1, model_id=m.model_id, dataset_name="ds", dataset_digest="abc"),
    Metric("loss", float("nan"), 1002, 2, model_id=m.model_id)])
c.log_outputs(rid, [LoggedModelOutput(m.model_id, 3)])
c.log_inputs(rid, models=[LoggedModelInput(m2.model_id)])
m3 = c.create_logged_model(eid, name="gone")
c.delete_logged_model(m3.model_id)
mlflow.set_tracking_uri(uri)
ds = mlflow.data.from_pandas(pd.DataFrame({"a": [1.0, 2.0]}), source="s3://bucket/d.csv", name="mydata")
ds2 = mlflow.data.from_numpy(np.array([[1, 2], [3, 4]]), name="np")
with mlflow.start_run(experiment_id=eid, run_name="withdata"):
    mlflow.log_input(ds, context="training")
    mlflow.log_input(ds2, context="eval", tags={"k": "v"})
print(eid, rid, m.model_id, m2.model_id, m3.model_id)
