"""Fill a tracking server with deterministic data for the browser tests.

Run with the real MLflow client: MLFLOW_TRACKING_URI=http://... python seed.py OUT.json
Writes a JSON summary (experiment and run ids, logged values) that the tests read,
so assertions compare the UI against what was actually logged.
"""
import json
import math
import sys
import time

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient


LONG_STEPS = 20_000


HOSTILE_HTML = '<h1>hi</h1><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">\n'
HOSTILE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="window.__pwned=3">'
               '<script>window.__pwned=4</script><rect width="10" height="10"/></svg>\n')


def log_artifacts(c: MlflowClient, rid: str) -> dict:
    """Artifacts of every preview kind, plus hostile HTML and SVG that must never run."""
    import numpy as np

    text = "epoch 1: loss=0.91\nepoch 2: loss=0.55\n<b>not bold</b>\n"
    c.log_text(rid, text, "train.log")
    cfg = {"model": "resnet", "layers": [3, 4, 6, 3], "dropout": 0.1}
    c.log_dict(rid, cfg, "config.json")
    csv = 'name,score,comment\nalpha,0.9,"says ""hi"", twice"\nbeta,0.7,"multi\nline"\n'
    c.log_text(rid, csv, "eval/scores.csv")
    c.log_text(rid, "nested file\n", "eval/deep/notes.txt")
    img = np.zeros((12, 20, 3), dtype=np.uint8)
    img[:, :10, 0] = 255
    img[:, 10:, 2] = 255
    c.log_image(rid, img, "plots/sample.png")
    c.log_text(rid, HOSTILE_HTML, "report.html")
    c.log_text(rid, HOSTILE_SVG, "plots/evil.svg")
    return {"text": text, "config": cfg, "csv_rows": [["name", "score", "comment"], ["alpha", "0.9", 'says "hi", twice'],
            ["beta", "0.7", "multi\nline"]], "image": [20, 12], "html": HOSTILE_HTML, "svg": HOSTILE_SVG}


def log_models(exp_name: str) -> dict:
    """MLflow 3 logged models and dataset inputs, logged the way users do: the
    fluent API, a tiny pyfunc PythonModel and a pandas dataset."""
    import mlflow
    import pandas as pd
    from mlflow.entities import LoggedModelInput

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    exp_id = mlflow.set_experiment(exp_name).experiment_id
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": [0, 1, 0, 1]})
    ds = mlflow.data.from_pandas(df, source="s3://demo-bucket/train.csv", name="train-set", targets="label")
    models = []
    for name, alpha, rmse, run_name in [("tiny-model", "0.5", 0.25, "trainer"), ("other-model", "0.9", 0.75, "retrainer")]:
        with mlflow.start_run(run_name=run_name) as run:
            mlflow.log_param("alpha", alpha)
            mlflow.log_input(ds, context="training", tags={"split": "v1"})
            if models:
                # The second run starts from the first model: a model input.
                mlflow.log_input(model=LoggedModelInput(models[0]["model_id"]))
            info = mlflow.pyfunc.log_model(name=name, python_model=Echo(), params={"alpha": alpha, "depth": "3"},
                                           tags={"owner": "alice"}, model_type="toy", step=7)
            mlflow.log_metric("rmse", rmse, step=7, model_id=info.model_id, dataset=ds)
        models.append({"model_id": info.model_id, "name": name, "run_id": run.info.run_id, "run_name": run_name,
                       "alpha": alpha, "rmse": rmse, "step": 7, "model_type": "toy"})
    wire = ds._to_mlflow_entity()
    # Read through the client's own artifact path, not the UI's endpoints under test.
    location = mlflow.get_logged_model(models[0]["model_id"]).artifact_location
    mlmodel = mlflow.artifacts.download_artifacts(artifact_uri=location.rstrip("/") + "/MLmodel")
    with open(mlmodel) as f:
        mlmodel_text = f.read()
    return {"experiment_id": exp_id, "experiment_name": exp_name, "models": models, "mlmodel": mlmodel_text,
            # The dataset exactly as the client sends it (schema and profile are JSON strings).
            "dataset": {**{k: getattr(wire, k) for k in ("name", "digest", "source_type", "source", "schema", "profile")},
                        "uri": "s3://demo-bucket/train.csv", "context": "training", "tags": {"split": "v1"}}}


def main() -> None:
    c = MlflowClient()
    stamp = str(int(time.time() * 1000))
    exp_name = f"browser-demo-{stamp}"
    exp_id = c.create_experiment(exp_name, tags={"team": "vision"})
    other_id = c.create_experiment(f"browser-other-{stamp}")
    base = int(time.time() * 1000) - 3_600_000
    runs = []
    configs = [
        ("resnet-small", 0.01, 32, "adam"),
        ("resnet-large", 0.003, 64, "adam"),
        ("vit-base", 0.001, 128, "sgd"),
        ("mlp-baseline", 0.1, 16, "sgd"),
    ]
    for i, (name, lr, bs, opt) in enumerate(configs):
        r = c.create_run(exp_id, run_name=name, start_time=base + i * 60_000,
                         tags={"mlflow.source.name": "train.py", "mlflow.user": "alice",
                               "model_family": name.split("-")[0]})
        rid = r.info.run_id
        n = 200
        metrics = []
        loss_hist = []
        for s in range(n):
            loss = round((1.0 / (1 + s * lr * 10)) + 0.05 * math.sin(s / 5.0) + i * 0.1, 6)
            if name == "resnet-small" and s == 137:
                loss = 9.5  # a spike the chart must not lose
            loss_hist.append([s, loss])
            metrics.append(Metric("loss", loss, base + i * 60_000 + s * 1000, s))
            metrics.append(Metric("accuracy", round(1 - loss / 2, 6), base + i * 60_000 + s * 1000, s))
        params = [Param("lr", str(lr)), Param("batch_size", str(bs)), Param("optimizer", opt)]
        c.log_batch(rid, metrics=metrics, params=params)
        c.set_terminated(rid, "FINISHED", end_time=base + i * 60_000 + n * 1000)
        runs.append({"run_id": rid, "name": name, "lr": str(lr), "batch_size": str(bs),
                     "optimizer": opt, "final_loss": loss_hist[-1][1], "loss": loss_hist})
    parent = runs[0]["run_id"]
    children = []
    for j in range(2):
        ch = c.create_run(exp_id, run_name=f"trial-{j}", tags={"mlflow.parentRunId": parent})
        c.log_param(ch.info.run_id, "trial", str(j))
        c.log_metric(ch.info.run_id, "loss", 0.5 + j, step=0)
        c.set_terminated(ch.info.run_id)
        children.append(ch.info.run_id)
    c.set_tag(parent, "mlflow.note.content", "Baseline run with **notes**.")
    artifacts = log_artifacts(c, parent)
    live = c.create_run(exp_id, run_name="live-run")
    c.log_metric(live.info.run_id, "loss", 1.0, step=0)
    failed = c.create_run(exp_id, run_name="crashed")
    c.set_terminated(failed.info.run_id, "FAILED")
    gone = c.create_run(exp_id, run_name="deleted-run")
    c.set_terminated(gone.info.run_id)
    c.delete_run(gone.info.run_id)
    c.create_run(other_id, run_name="lonely")
    # A history longer than the chart's point budget, so the full view is
    # downsampled and a zoom must refetch its step range to show every point.
    long_id = c.create_experiment(f"browser-long-{stamp}")
    lr_ = c.create_run(long_id, run_name="long-run")
    long_vals = [round(math.sin(s / 40.0) + (s % 7) * 0.01, 6) for s in range(LONG_STEPS)]
    for i in range(0, LONG_STEPS, 1000):
        c.log_batch(lr_.info.run_id, metrics=[Metric("loss", long_vals[s], base + s, s) for s in range(i, min(i + 1000, LONG_STEPS))])
    c.set_terminated(lr_.info.run_id)
    try:
        models = log_models(f"browser-models-{stamp}")
    except Exception as e:  # noqa: BLE001 - reported to the tests, which fail on it
        # A server without logged models must not hide the other UI tests'
        # results: the model tests fail with this message instead.
        print(f"seed.py: logging models failed: {e!r}", file=sys.stderr)
        models = {"error": f"seeding logged models failed: {e!r}"}
    with open(sys.argv[1], "w") as out:
        json.dump({"experiment_id": exp_id, "experiment_name": exp_name, "other_experiment_id": other_id,
                   "runs": runs, "children": children, "live_run_id": live.info.run_id,
                   "failed_run_id": failed.info.run_id, "deleted_run_id": gone.info.run_id,
                   "long_run_id": lr_.info.run_id, "long_loss": long_vals,
                   "artifacts": artifacts, "models": models},
                  out)


if __name__ == "__main__":
    main()
