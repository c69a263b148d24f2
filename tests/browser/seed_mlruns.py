"""Write an mlruns folder with the real MLflow client, as the seed's training code does.

    MLFLOW_ALLOW_FILE_STORE=true python seed_mlruns.py DIR OUT.json

A finished run with a long history (a spike in it) and a RUNNING one the test
then appends to as another writer would. The summary has every logged value,
so the test compares the chart with what the client wrote.
"""
import json
import math
import sys
from pathlib import Path

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

LONG_STEPS = 5000
LIVE_STEPS = 3000
T0 = 1_700_000_000_000


def long_value(s: int) -> float:
    return 50.0 if s == 3333 else round(math.exp(-s / 1500) + 0.01 * (s % 7), 6)


def log_all(c: MlflowClient, rid: str, values: list[float]) -> None:
    ms = [Metric("loss", v, T0 + s, s) for s, v in enumerate(values)]
    for i in range(0, len(ms), 1000):
        c.log_batch(rid, metrics=ms[i:i + 1000])


def main(root: str, out: str) -> None:
    c = MlflowClient(tracking_uri=Path(root).resolve().as_uri())
    exp = c.create_experiment("mlruns-demo")
    long_run = c.create_run(exp, run_name="long").info.run_id
    c.log_param(long_run, "lr", "0.01")
    long_values = [long_value(s) for s in range(LONG_STEPS)]
    log_all(c, long_run, long_values)
    c.set_terminated(long_run)
    live = c.create_run(exp, run_name="live").info.run_id
    log_all(c, live, [round(1 / (1 + s), 6) for s in range(LIVE_STEPS)])
    Path(out).write_text(json.dumps({
        "experiment_id": exp, "long_id": long_run, "live_id": live, "long": long_values,
        "live_file": str(Path(root).resolve() / exp / live / "metrics" / "loss"),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
