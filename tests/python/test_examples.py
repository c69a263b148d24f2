"""The user-facing examples against a live mltrack server.

- scripts/demo.sh (what `make demo` runs): the Go trainer over the 3x2 grid of
  --lr and --hidden; checked through the REST API: six FINISHED runs with params
  lr and hidden, a `loss` history of exactly --epochs steps that goes down, and
  the weights and loss plot among the run's artifacts.
- examples/python (the seed's script in --no-torch mode): its own test file,
  run against the same server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import requests

from harness import REPO_ROOT

EPOCHS = 40


def _api(url: str, method: str, path: str, **kw) -> dict:
    r = requests.request(method, f"{url}/api/2.0/mlflow/{path}", timeout=30, **kw)
    r.raise_for_status()
    return r.json()


def test_demo_grid(subject):
    experiment = f"demo-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(subject.port), "EPOCHS": str(EPOCHS),
           "DEMO_NO_WAIT": "1", "MLFLOW_EXPERIMENT_NAME": experiment}
    proc = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "demo.sh")], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]

    exp = _api(subject.url, "GET", "experiments/get-by-name", params={"experiment_name": experiment})["experiment"]
    runs = _api(subject.url, "POST", "runs/search",
                json={"experiment_ids": [exp["experiment_id"]], "max_results": 100})["runs"]
    assert len(runs) == 6
    grid = set()
    for run in runs:
        assert run["info"]["status"] == "FINISHED", run["info"]
        params = {p["key"]: p["value"] for p in run["data"]["params"]}
        grid.add((float(params["lr"]), int(params["hidden"])))
        hist = _api(subject.url, "GET", "metrics/get-history",
                    params={"run_id": run["info"]["run_id"], "metric_key": "loss"})["metrics"]
        steps = sorted(m["step"] for m in hist)
        assert len(steps) == EPOCHS and len(set(steps)) == EPOCHS, steps[:5]
        by_step = sorted(hist, key=lambda m: m["step"])
        assert by_step[-1]["value"] < by_step[0]["value"], (params, by_step[0], by_step[-1])
        # The trained weights and the loss plot went through mltrack's artifact proxy.
        files = _api(subject.url, "GET", "artifacts/list", params={"run_id": run["info"]["run_id"]}).get("files", [])
        sizes = {f["path"]: int(f.get("file_size", 0)) for f in files}
        assert {"weights.json", "loss.png"} <= set(sizes), sizes
        assert sizes["loss.png"] > 1000 and sizes["weights.json"] > 10, sizes
    assert grid == {(lr, h) for lr in (0.01, 0.05, 0.1) for h in (8, 32)}


def test_python_example(subject):
    env = {**os.environ, "MLTRACK_URL": subject.url}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(REPO_ROOT / "examples" / "python")],
                          env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-1000:]
