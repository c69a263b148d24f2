"""Differential scenarios: artifacts through the proxy (log, list, download).

Both servers run with --artifacts-destination <workdir>/mlartifacts, so run
artifact roots are mlflow-artifacts:/<exp>/<run>/artifacts on each.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from scenario import Ctx, assert_same, compare, run_scenario


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Local files every scenario logs: a file and a nested directory tree."""
    root = tmp_path_factory.mktemp("artifact-src")
    (root / "single.txt").write_text("one file\n")
    t = root / "tree"
    (t / "a" / "b").mkdir(parents=True)
    (t / "empty-sibling").mkdir()
    (t / "top.txt").write_text("top")
    (t / "a" / "mid.json").write_text('{"x": 1}')
    (t / "a" / "b" / "deep.bin").write_bytes(bytes(range(256)) * 40)
    (t / "a" / "b" / "page.html").write_text("<script>alert(1)</script>")
    (t / "empty-sibling" / "z.csv").write_text("a,b\n1,2\n")
    return root


def _walk(root_uri, path=None):
    """Every listing under the run's artifact root, depth first, as plain data.

    Lists by artifact URI; the `runs:/` flows have their own test.
    """
    import mlflow

    out = []
    for f in mlflow.artifacts.list_artifacts(artifact_uri=root_uri, artifact_path=path):
        out.append({"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size})
        if f.is_dir:
            out.extend(_walk(root_uri, f.path))
    return out


def _digest_tree(d: Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def _log_everything(ctx: Ctx, tree: Path, exp: str) -> str:
    import numpy as np

    mlflow = ctx.fluent()
    ctx.exp_id(mlflow.set_experiment(exp).experiment_id)
    with mlflow.start_run() as run:
        ctx.run_id(run.info.run_id)
        mlflow.log_artifact(str(tree / "single.txt"))
        mlflow.log_artifact(str(tree / "single.txt"), "nested/dir")
        mlflow.log_artifacts(str(tree / "tree"))
        mlflow.log_artifacts(str(tree / "tree"), "copy")
        mlflow.log_text("hello text\n", "notes/readme.md")
        mlflow.log_dict({"lr": 0.1, "layers": [1, 2]}, "cfg/config.json")
        mlflow.log_dict({"lr": 0.1}, "cfg/config.yaml")
        img = (np.arange(16 * 16 * 3) % 255).astype(np.uint8).reshape(16, 16, 3)
        mlflow.log_image(img, "images/grad.png")
    return run.info.run_id


def test_log_and_list(ctxs, tree):
    def s(ctx: Ctx):
        import mlflow

        run_id = _log_everything(ctx, tree, "diff-artifacts-list")
        c = ctx.client
        uri = c.get_run(run_id).info.artifact_uri
        ls = mlflow.artifacts.list_artifacts
        return {
            "root": [(f.path, f.is_dir, f.file_size) for f in c.list_artifacts(run_id)],
            "walk": _walk(uri),
            "sub": [(f.path, f.is_dir, f.file_size) for f in ls(artifact_uri=uri, artifact_path="copy/a")],
            "file_as_dir": [f.path for f in ls(artifact_uri=uri, artifact_path="single.txt")],
            "missing": [f.path for f in ls(artifact_uri=uri, artifact_path="no/such/dir")],
            "artifact_uri_tail": uri.split(run_id)[-1],
        }
    compare(s, ctxs)


def test_download(ctxs, tree, tmp_path):
    def s(ctx: Ctx):
        import mlflow

        run_id = _log_everything(ctx, tree, "diff-artifacts-download")
        uri = ctx.client.get_run(run_id).info.artifact_uri
        dst = tmp_path / f"{ctx.server.kind}-{ctx.server.port}"
        dst.mkdir()
        dl = mlflow.artifacts.download_artifacts
        whole = Path(dl(artifact_uri=uri, dst_path=str(dst / "all")))
        one = Path(dl(artifact_uri=uri + "/copy/a/b/deep.bin", dst_path=str(dst / "one")))
        sub = Path(dl(artifact_uri=uri + "/copy", dst_path=str(dst / "sub")))
        return {
            "whole": _digest_tree(whole),
            "one": hashlib.sha256(one.read_bytes()).hexdigest(),
            "sub": _digest_tree(sub),
            "text": mlflow.artifacts.load_text(uri + "/notes/readme.md"),
            "dict": mlflow.artifacts.load_dict(uri + "/cfg/config.json"),
            "image_size": list(mlflow.artifacts.load_image(uri + "/images/grad.png").size),
        }
    compare(s, ctxs)


def test_runs_uri_flows(ctxs, tree, tmp_path):
    """The client's `runs:/<id>/<path>` flows (list_artifacts(run_id, path),
    download_artifacts(run_id=...), load_text("runs:/...")) first call
    logged-models/search to see whether the path names a model."""
    def s(ctx: Ctx):
        import mlflow

        run_id = _log_everything(ctx, tree, "diff-artifacts-runs-uri")
        dst = tmp_path / f"{ctx.server.kind}-{ctx.server.port}"
        dst.mkdir()
        whole = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(dst / "all")))
        one = Path(ctx.client.download_artifacts(run_id, "copy/a/b/deep.bin", str(dst / "one")))
        return {
            "sub": [(f.path, f.is_dir, f.file_size) for f in ctx.client.list_artifacts(run_id, "copy/a")],
            "whole": _digest_tree(whole),
            "one": hashlib.sha256(one.read_bytes()).hexdigest(),
            "text": mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.md"),
        }
    want = run_scenario(s, ctxs["oracle"])
    assert "exception" not in want, want
    assert_same(want, run_scenario(s, ctxs["subject"]))


def test_raw_routes(ctxs, tree):
    """The wire: listings from both list routes, download headers, errors."""
    def s(ctx: Ctx):
        run_id = _log_everything(ctx, tree, "diff-artifacts-raw")
        exp_id = ctx.client.get_run(run_id).info.experiment_id
        base = f"/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts"
        out = {
            "proxy_list": ctx.raw("GET", "/api/2.0/mlflow-artifacts/artifacts",
                                  params={"path": f"{exp_id}/{run_id}/artifacts/copy"}),
            "proxy_list_missing": ctx.raw("GET", "/api/2.0/mlflow-artifacts/artifacts",
                                          params={"path": "nope/nope"}),
            "run_list": ctx.raw("GET", "/api/2.0/mlflow/artifacts/list",
                                params={"run_id": run_id, "path": "copy/a"}),
            "run_list_root": ctx.raw("GET", "/api/2.0/mlflow/artifacts/list", params={"run_id": run_id}),
            "mpu_create": ctx.error("POST", "/api/2.0/mlflow-artifacts/mpu/create/" + base.split("artifacts/", 2)[-1],
                                    json_body={"path": "big.bin", "num_parts": 2}),
            "missing_run": ctx.error("GET", "/api/2.0/mlflow/artifacts/list",
                                     params={"run_id": "0" * 32}),
            "traversal": ctx.error("GET", "/api/2.0/mlflow/artifacts/list",
                                   params={"run_id": run_id, "path": "../../etc"}),
            "get_traversal": ctx.error("GET", "/get-artifact", params={"run_id": run_id, "path": "../x"}),
            # MLflow: 400 without an error body; mltrack: 400 INVALID_PARAMETER_VALUE.
            "get_dir_status": ctx.error("GET", base + "/copy")["status"],
            "get_missing": ctx.error("GET", base + "/nope.txt"),
            "get_artifact_missing": ctx.error("GET", "/get-artifact", params={"run_id": run_id, "path": "nope.txt"}),
        }
        for name in ("single.txt", "copy/a/mid.json", "images/grad.png", "copy/a/b/page.html"):
            for url, params in ((f"{base}/{name}", None), ("/get-artifact", {"run_id": run_id, "path": name})):
                r = ctx.session.get(ctx.url + url, params=params, timeout=30)
                h = r.headers
                ctype = h.get("Content-Type")
                if name.endswith(".html"):
                    # MLflow sends text/html (as an attachment); mltrack refuses
                    # to label active content: octet-stream. Not compared.
                    ctype = "<active>"
                out[f"GET {url.split('/')[1]} {name}"] = {
                    "status": r.status_code, "sha": hashlib.sha256(r.content).hexdigest(),
                    "disposition": h.get("Content-Disposition"), "nosniff": h.get("X-Content-Type-Options"),
                    "type": ctype,
                }
        return out
    compare(s, ctxs)


def test_delete_through_proxy(ctxs, tree):
    """The client's delete of a proxied directory (HttpArtifactRepository)."""
    def s(ctx: Ctx):
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        run_id = _log_everything(ctx, tree, "diff-artifacts-delete")
        uri = ctx.client.get_run(run_id).info.artifact_uri
        repo = get_artifact_repository(uri.replace("mlflow-artifacts:", ctx.url + "/api/2.0/mlflow-artifacts/artifacts", 1))
        repo.delete_artifacts("copy")
        repo.delete_artifacts("copy")  # already gone: still fine
        return {"after": [f.path for f in ctx.client.list_artifacts(run_id)]}
    compare(s, ctxs)


# Subject-only: every traversal variant is refused and nothing outside the
# destination changes. MLflow itself answers some of these differently.
VARIANTS = [
    "../secret.txt", "a/../../secret.txt", "/etc/passwd", "file:///etc/passwd", "..\\secret.txt",
    "%2e%2e%2fsecret.txt", "%252e%252e%252fsecret.txt", "a.txt;/../../secret.txt", "a#/../x",
    "a?x=../../y", "a\x00b", "C:/x", "s3://b/k", "x" * 5000,
]


@pytest.mark.parametrize("variant", VARIANTS, ids=range(len(VARIANTS)))
def test_traversal_refused(ctxs, variant):
    ctx = ctxs["subject"]
    if ctx.server.kind != "mltrack":
        pytest.skip("mltrack's own rule")
    dest = ctx.server.workdir / "mlartifacts"
    outside = ctx.server.workdir / "outside-canary.txt"
    outside.write_text("canary")
    before = sorted(str(p) for p in ctx.server.workdir.rglob("*") if not str(p).startswith(str(dest)))
    run = ctx.client.create_run("0")
    rid = run.info.run_id
    checks = [
        ("GET", "/api/2.0/mlflow-artifacts/artifacts", {"path": variant}, None),
        ("GET", "/api/2.0/mlflow/artifacts/list", {"run_id": rid, "path": variant}, None),
        ("GET", "/get-artifact", {"run_id": rid, "path": variant}, None),
        ("POST", "/ajax-api/2.0/mlflow/upload-artifact", {"run_id": rid, "path": variant}, b"pwned"),
    ]
    for method, path, params, data in checks:
        r = ctx.session.request(method, ctx.url + path, params=params, data=data, timeout=30)
        assert r.status_code == 400, (method, path, variant, r.status_code, r.text[:200])
        assert r.json()["message"] == "Invalid path"
    # Path-borne variants, sent without client-side cleaning.
    import http.client
    from urllib.parse import quote
    conn = http.client.HTTPConnection("127.0.0.1", ctx.server.port, timeout=30)
    target = quote(variant, safe="/.%:;\\")
    for method in ("GET", "PUT", "DELETE"):
        conn.request(method, "/api/2.0/mlflow-artifacts/artifacts/" + target, body=b"pwned" if method == "PUT" else None)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 400, (method, variant, resp.status)
    conn.close()
    assert outside.read_text() == "canary"
    after = sorted(str(p) for p in ctx.server.workdir.rglob("*") if not str(p).startswith(str(dest)))
    assert before == after
