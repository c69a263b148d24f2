"""Runs train.py --no-torch against a live tracking server and checks, through
the REST API, what it logged. Needs MLTRACK_URL (e.g. http://127.0.0.1:5000,
a running `mltrack server`); skipped without it, failed without it in CI.

    MLTRACK_URL=http://127.0.0.1:5000 python -m pytest examples/python -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("train.py")


@pytest.fixture(scope="module")
def url() -> str:
    u = os.environ.get("MLTRACK_URL", "").rstrip("/")
    if not u:
        if os.environ.get("CI") == "true":
            pytest.fail("MLTRACK_URL is not set")
        pytest.skip("MLTRACK_URL is not set")
    return u


def api(url: str, method: str, path: str, body: dict | None = None, **query) -> dict:
    full = f"{url}/api/2.0/mlflow/{path}"
    data = None
    headers = {}
    if method == "GET":
        full += "?" + urllib.parse.urlencode(query, doseq=True)
    else:
        data = json.dumps(body or {}).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(full, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def run_script(url: str, *args: str) -> subprocess.CompletedProcess:
    # No retries: a broken server should fail the test now, not in minutes.
    env = {**os.environ, "MLFLOW_TRACKING_URI": url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--no-torch", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("lr,hidden", [("0.1", "8"), ("0.05", "4")])
def test_numpy_run_is_logged(url: str, lr: str, hidden: str) -> None:
    experiment = f"pytest-train-{uuid.uuid4().hex[:8]}"
    epochs = 25
    proc = run_script(url, "--lr", lr, "--hidden", hidden, "--epochs", str(epochs), "--seed", "7", "--experiment", experiment)
    assert proc.returncode == 0, proc.stderr

    exp = api(url, "GET", "experiments/get-by-name", experiment_name=experiment)["experiment"]
    runs = api(url, "POST", "runs/search", {"experiment_ids": [exp["experiment_id"]]}).get("runs", [])
    assert len(runs) == 1
    run = runs[0]
    info, data = run["info"], run["data"]
    assert info["status"] == "FINISHED"
    assert info["run_name"] == f"lr={lr},hidden={hidden}"
    params = {p["key"]: p["value"] for p in data["params"]}
    assert params == {"lr": lr, "hidden": hidden, "epochs": str(epochs), "seed": "7", "framework": "numpy"}

    for key in ("loss", "val_loss"):
        hist = api(url, "GET", "metrics/get-history", run_id=info["run_id"], metric_key=key)["metrics"]
        assert sorted(m.get("step", 0) for m in hist) == list(range(epochs))
    loss = {m.get("step", 0): m["value"] for m in api(url, "GET", "metrics/get-history", run_id=info["run_id"], metric_key="loss")["metrics"]}
    assert loss[epochs - 1] < loss[0], "training did not reduce the loss"


def test_different_seeds_give_different_runs(url: str) -> None:
    experiment = f"pytest-seeds-{uuid.uuid4().hex[:8]}"
    for seed in ("1", "2"):
        proc = run_script(url, "--epochs", "3", "--seed", seed, "--experiment", experiment)
        assert proc.returncode == 0, proc.stderr
    exp = api(url, "GET", "experiments/get-by-name", experiment_name=experiment)["experiment"]
    runs = api(url, "POST", "runs/search", {"experiment_ids": [exp["experiment_id"]]})["runs"]
    first_losses = set()
    for r in runs:
        hist = api(url, "GET", "metrics/get-history", run_id=r["info"]["run_id"], metric_key="loss")["metrics"]
        first_losses.add(next(m["value"] for m in hist if m.get("step", 0) == 0))
    assert len(first_losses) == 2


def test_bad_arguments_fail_without_logging(url: str) -> None:
    proc = run_script(url, "--lr", "0")
    assert proc.returncode == 2
    assert "--lr" in proc.stderr
