# Runs the logged-model, input and output operations of TestModelsMatchMLflow with the real
# MLflow FileStore on a copy of the folder the Go store started from, with the ids, names and
# clock the Go store used, then prints what MLflow reads back as JSON.
#   python models_ops.py ROOT EXPERIMENT_ID RUN_ID M1 M2 M3 M2_NAME T0
import json, math, os, sys

os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
import uuid as real_uuid

import mlflow.store.tracking.file_store as fsmod
from mlflow.entities import (Dataset, DatasetInput, InputTag, LoggedModelInput, LoggedModelOutput,
                             LoggedModelParameter, LoggedModelStatus, LoggedModelTag, Metric)

root, eid, rid, m1, m2, m3, m2_name, t0 = sys.argv[1:9]
ids = iter([m1, m2, m3])
clock = iter(range(int(t0), int(t0) + 1000))


class FakeUUID:
    @staticmethod
    def uuid4():
        return real_uuid.UUID(hex=next(ids)[2:])


class FakeTime:
    @staticmethod
    def time():
        return (next(clock) + 0.5) / 1000  # int(t * 1000) gives the tick back


fsmod.uuid = FakeUUID
fsmod.time = FakeTime
fsmod.get_current_time_millis = lambda: next(clock)
fsmod._generate_random_name = lambda: m2_name

fs = fsmod.FileStore(root)
# What the server passes for fields a request leaves out: '' (proto defaults).
fs.create_logged_model(eid, name="my-model", source_run_id=rid, model_type="sklearn",
                       tags=[LoggedModelTag("t1", "v1"), LoggedModelTag("x/y", "z"), LoggedModelTag("t0", "gone")],
                       params=[LoggedModelParameter("lr", "0.1"), LoggedModelParameter("a/b", "c")])
fs.create_logged_model(eid, name=None, source_run_id="", model_type="")
fs.create_logged_model(eid, name="123", source_run_id="", model_type="torch")
fs.set_logged_model_tags(m1, [LoggedModelTag("t2", "it's"), LoggedModelTag("t1", "new"),
                              LoggedModelTag("multi", "a\nb")])
fs.delete_logged_model_tag(m1, "t0")
fs.delete_logged_model_tag(m1, "x/y")
fs.log_logged_model_params(m1, [LoggedModelParameter("p2", "v2")])
fs.finalize_logged_model(m1, LoggedModelStatus.READY)
fs.finalize_logged_model(m3, LoggedModelStatus.FAILED)
fs.log_batch(rid, metrics=[
    Metric("acc", 0.5, 1000, 0, model_id=m1),
    Metric("acc", 0.7, 1001, 1, model_id=m1, dataset_name="ds", dataset_digest="abc"),
    Metric("acc", 0.25, 1002, 2, model_id=m1, dataset_name="other", dataset_digest="d1"),
    Metric("loss", math.nan, 1002, 2, model_id=m1),
    Metric("loss", 1e-7, 1003, 1, model_id=m3),
    Metric("plain", 1.0, 1004, 0),
], params=[], tags=[])
fs.log_outputs(rid, [LoggedModelOutput(m1, 3)])
schema = '{"mlflow_colspec": [{"type": "double", "name": "a", "required": true}]}'
fs.log_inputs(rid, datasets=[
    DatasetInput(Dataset("mydata", "c42e9dfe", "s3", '{"uri": "s3://bucket/d.csv"}', schema,
                         '{"num_rows": 2, "num_elements": 2}'), [InputTag("mlflow.data.context", "training")]),
    DatasetInput(Dataset("np", "8be7b4a3", "code", '{"tags": {"mlflow.user": "root"}}'),
                 [InputTag("k", "v"), InputTag("mlflow.data.context", "eval")]),
    DatasetInput(Dataset("mydata", "c42e9dfe", "s3", "ignored: logged already"), [InputTag("x", "y")]),
], models=[LoggedModelInput(m2)])
fs.delete_logged_model(m2)


def model(m):
    return {
        "model_id": m.model_id, "name": m.name, "experiment_id": m.experiment_id,
        "artifact_location": m.artifact_location, "creation_timestamp": m.creation_timestamp,
        "last_updated_timestamp": m.last_updated_timestamp, "model_type": m.model_type,
        "source_run_id": m.source_run_id, "status": m.status.to_int(), "status_message": m.status_message,
        "tags": m.tags, "params": m.params,
        "metrics": sorted([mt.key, str(mt.value), mt.timestamp, mt.step, mt.run_id, mt.dataset_name,
                           mt.dataset_digest] for mt in m.metrics or []),
    }


def ids_of(**kw):
    return [m.model_id for m in fs.search_logged_models([eid], **kw)]


run = fs.get_run(rid)
print(json.dumps({
    "models": [model(fs.get_logged_model(m)) for m in (m1, m3)],
    "searches": {
        "all": ids_of(),
        "by_name": ids_of(order_by=[{"field_name": "name"}]),
        "acc_gt": ids_of(filter_string="metrics.acc > 0.1"),
        "on_ds": ids_of(datasets=[{"dataset_name": "ds"}]),
        "tag_eq": ids_of(filter_string="tags.t1 = 'new'"),
        "param_like": ids_of(filter_string="params.lr LIKE '0.%'"),
        "acc_asc": ids_of(order_by=[{"field_name": "metrics.acc"}]),
        "type_ne": ids_of(filter_string="model_type != 'sklearn'"),
    },
    "datasets": sorted([d.experiment_id, d.name, d.digest, d.context] for d in fs._search_datasets([eid])),
    "inputs": sorted([d.dataset.name, d.dataset.digest, d.dataset.source, d.dataset.schema, d.dataset.profile,
                      sorted([t.key, t.value] for t in d.tags)] for d in run.inputs.dataset_inputs),
    "model_inputs": [m.model_id for m in run.inputs.model_inputs],
    "model_outputs": [[m.model_id, m.step] for m in run.outputs.model_outputs],
}, sort_keys=True))
