"""Session fixtures: the real MLflow server (oracle) and mltrack (subject)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# A failing subject must fail fast: the MLflow client otherwise retries 5xx
# responses with exponential backoff for minutes. Set before mlflow is imported.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "30"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"  # loopback traffic only
os.environ["DO_NOT_TRACK"] = "true"
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)

from harness import Server, rm_tree, subject_kind  # noqa: E402
from scenario import Ctx  # noqa: E402


@pytest.fixture(scope="session")
def tmp_root():
    root = Path(tempfile.mkdtemp(prefix="mltrack-pytests-"))
    yield root
    if os.environ.get("MLTRACK_KEEP_TMP") != "1":
        rm_tree(root)


def _start(kind: str, name: str, root: Path) -> Server:
    workdir = root / name
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / f"{name}.db"
    return Server(kind=kind, backend_uri=f"sqlite:///{db}", workdir=workdir).start()


@pytest.fixture(scope="session")
def oracle(tmp_root):
    server = _start("mlflow", "oracle", tmp_root)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def subject(tmp_root):
    try:
        server = _start(subject_kind(), "subject", tmp_root)
    except RuntimeError as e:
        pytest.fail(f"subject server did not start: {e}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ctxs(oracle, subject):
    """One Ctx per server; state a scenario builds on a server is cached in it."""
    return {"oracle": Ctx(oracle), "subject": Ctx(subject)}
