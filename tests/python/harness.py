"""Process management and result normalisation for the differential suite.

The suite runs every scenario against the real MLflow server (the oracle) and
against mltrack (the subject), then compares normalised results. Anything that
legitimately differs between two servers (generated ids, clock readings,
random run names, artifact roots) is masked here and nowhere else.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("MLTRACK_VENV_BIN", REPO_ROOT / ".venv" / "bin"))
MLTRACK_BIN = Path(os.environ.get("MLTRACK_BIN", REPO_ROOT / "bin" / "mltrack"))

# Ports this suite may use (the project's allocation for the Python tests);
# MLTRACK_TEST_PORTS=lo-hi moves it, e.g. when two suites share a machine.
PORT_RANGE = range(17000, 18000)


def port_range() -> range:
    spec = os.environ.get("MLTRACK_TEST_PORTS", "")
    if spec:
        lo, hi = (int(x) for x in spec.split("-"))
        return range(lo, hi + 1)
    return PORT_RANGE


def free_port() -> int:
    """A port in port_range() nobody listens on right now.

    Starts at a pid-dependent offset so two concurrent suites rarely collide.
    """
    ports = port_range()
    start = os.getpid() % len(ports)
    for i in range(len(ports)):
        port = ports[(start + i) % len(ports)]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


@dataclass
class Server:
    """A tracking server process bound to 127.0.0.1."""

    kind: str  # "mlflow" or "mltrack"
    backend_uri: str
    workdir: Path
    port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    extra_env: dict = field(default_factory=dict)
    # Where the proxy stores artifacts; None: <workdir>/mlartifacts.
    artifacts_destination: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def artifacts_dest(self) -> str:
        return self.artifacts_destination or str(self.workdir / "mlartifacts")

    def command(self) -> list[str]:
        if self.kind == "mlflow":
            return [
                str(VENV_BIN / "mlflow"), "server",
                "--backend-store-uri", self.backend_uri,
                "--host", "127.0.0.1", "--port", str(self.port),
                # Serve artifacts from a temp dir instead of ./mlartifacts.
                "--artifacts-destination", self.artifacts_dest(),
                "--workers", "1",
            ]
        if self.kind == "mltrack":
            extra = os.environ.get("MLTRACK_SERVER_ARGS", "").split()
            return [
                str(MLTRACK_BIN), "server",
                "--backend-store-uri", self.backend_uri,
                "--host", "127.0.0.1", "--port", str(self.port),
                # The same artifact layout as the oracle's.
                "--artifacts-destination", self.artifacts_dest(),
                # No chart-cache snapshot in the user's cache directory for
                # a throwaway database.
                "--history-cache-file", "",
                *extra,
            ]
        raise ValueError(self.kind)

    def start(self, timeout: float = 180.0) -> "Server":
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.kind == "mltrack" and not MLTRACK_BIN.exists():
            raise RuntimeError(f"{MLTRACK_BIN} does not exist: run `make build` first")
        self.port = free_port()
        self.log_path = self.workdir / f"{self.kind}-{self.port}.log"
        env = dict(os.environ)
        # The oracle must not be steered by a developer's own MLflow settings.
        for k in list(env):
            if k.startswith("MLFLOW_") or k.startswith("_MLFLOW_"):
                del env[k]
        # No phoning home from the oracle (the suite talks to loopback only), and
        # no background job runner: it costs a few processes and has no bearing
        # on the tracking API.
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        env["DO_NOT_TRACK"] = "true"
        if self.kind == "mlflow":
            env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        env.update(self.extra_env)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.command(), cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.kind} server not healthy after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # The mlflow CLI forks uvicorn; signal the whole session we created.
            try:
                os.killpg(self.proc.pid, 15)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=5)
        self.proc = None

    def log_tail(self, n: int = 40) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


def subject_kind() -> str:
    """Which server plays the subject. `MLTRACK_TEST_SUBJECT=mlflow` runs the
    suite mlflow-vs-mlflow, which validates the harness itself."""
    kind = os.environ.get("MLTRACK_TEST_SUBJECT", "mltrack")
    if kind not in ("mltrack", "mlflow"):
        raise ValueError(f"MLTRACK_TEST_SUBJECT must be mltrack or mlflow, not {kind!r}")
    return kind


# ---------------------------------------------------------------------------
# Normalisation

TIME_KEYS = {
    "start_time", "end_time", "creation_time", "last_update_time", "timestamp",
    "creation_timestamp_ms", "last_updated_timestamp_ms", "deleted_time",
    "creation_timestamp", "last_updated_timestamp",
}
ARTIFACT_KEYS = {"artifact_uri", "artifact_location", "root_uri"}
GENERATED_NAME = re.compile(r"^[a-z]+-[a-z]+-\d{1,3}$")
HEX32 = re.compile(r"\b[0-9a-f]{32}\b")
# Millisecond clock readings after 2001; explicit small timestamps set by a
# scenario stay visible so the servers must echo them exactly.
NOW_MS = 1_000_000_000_000


class Normaliser:
    """Replaces ids by stable labels in order of first appearance.

    Run ids registered by a scenario (in creation order) get `<run:i>`, so the
    i-th run created on each server gets the same label; unknown 32-hex ids get
    `<hex:n>`; experiment ids registered get `<exp:i>`.
    """

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}
        self.exp_labels: dict[str, str] = {}
        self._hex = 0

    def run(self, run_id: str) -> str:
        return self.labels.setdefault(run_id, f"<run:{len(self.labels)}>")

    def exp(self, exp_id: str) -> str:
        return self.exp_labels.setdefault(str(exp_id), f"<exp:{len(self.exp_labels)}>")

    def _hexlabel(self, m: re.Match) -> str:
        h = m.group(0)
        if h not in self.labels:
            self.labels[h] = f"<hex:{self._hex}>"
            self._hex += 1
        return self.labels[h]

    def __call__(self, obj, key: str | None = None):
        if isinstance(obj, dict):
            return {self._str(k) if isinstance(k, str) else k: self(v, k) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self(v, key) for v in obj]
        if isinstance(obj, bool) or obj is None:
            return obj
        if isinstance(obj, float):
            if math.isnan(obj):
                return "NaN"
            if math.isinf(obj):
                return "Infinity" if obj > 0 else "-Infinity"
            if key in TIME_KEYS and obj > NOW_MS:
                return "<ts>"
            return obj
        if isinstance(obj, int):
            if key in TIME_KEYS and obj > NOW_MS:
                return "<ts>"
            return obj
        if isinstance(obj, str):
            if key in ARTIFACT_KEYS:
                return "<artifact>"
            if key in ("experiment_id",) and obj in self.exp_labels:
                return self.exp_labels[obj]
            if key in TIME_KEYS and obj.isdigit() and int(obj) > NOW_MS:
                return "<ts>"
            if key in ("run_name", "mlflow.runName", "name") and GENERATED_NAME.match(obj):
                return "<generated-name>"
            if key == "next_page_token" or key == "page_token":
                return "<token>" if obj else obj
            return self._str(obj)
        return obj

    def _str(self, s: str) -> str:
        for rid, label in self.labels.items():
            if rid in s:
                s = s.replace(rid, label)
        return HEX32.sub(self._hexlabel, s)


def to_plain(obj):
    """MLflow entities, PagedLists and containers as plain JSON-like data."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.store.entities.paged_list import PagedList

    if isinstance(obj, PagedList):
        return {"items": [to_plain(x) for x in obj], "next_page_token": obj.token or None}
    if hasattr(obj, "to_dictionary"):
        return to_plain(obj.to_dictionary())
    if isinstance(obj, (Metric,)):
        return {"key": obj.key, "value": obj.value, "timestamp": obj.timestamp, "step": obj.step}
    if isinstance(obj, (Param, RunTag)):
        return {"key": obj.key, "value": obj.value}
    if hasattr(obj, "__iter__") and type(obj).__module__.startswith("mlflow.entities"):
        return {k: to_plain(v) for k, v in dict(obj).items()}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def rm_tree(p: Path) -> None:
    shutil.rmtree(p, ignore_errors=True)
