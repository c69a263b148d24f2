# Copies a tree renaming ids to placeholders (in creation order) and blanking times.
import os, re, sys, shutil
src, dst = sys.argv[1], sys.argv[2]
shutil.rmtree(dst, ignore_errors=True)
metas = []
for d, _, fs in os.walk(src):
    if "meta.yaml" in fs: metas.append(os.path.join(d, "meta.yaml"))
ids = {}
def key(p):
    t = open(p).read()
    m = re.search(r"(creation_time|start_time): (\d+)", t)
    return (os.path.relpath(p, src).count("/"), m and m.group(1), int(m.group(2)) if m else 0, p)
# name ids by (depth, start/creation time); stable across the two trees
exp_i = run_i = 0
for p in sorted(metas, key=key):
    rel = os.path.relpath(os.path.dirname(p), src).split("/")
    if rel[0] == ".trash": rel = rel[1:]
    if len(rel) == 1 and rel[0] not in ids and rel[0] != "0": ids[rel[0]] = f"EXP{exp_i}"; exp_i += 1
    if len(rel) == 2 and rel[1] not in ids: ids[rel[1]] = f"RUN{run_i}"; run_i += 1
def sub(s):
    for k, v in sorted(ids.items(), key=lambda kv: -len(kv[0])): s = s.replace(k, v)
    s = s.replace(os.path.abspath(src), "ROOT")
    return re.sub(r"(creation_time|last_update_time|deleted_time): \d+", r"\1: T", s)
for d, dirs, fs in os.walk(src):
    nd = os.path.join(dst, sub(os.path.relpath(d, src)))
    os.makedirs(nd, exist_ok=True)
    for f in fs:
        open(os.path.join(nd, sub(f)), "w").write(sub(open(os.path.join(d, f)).read()) if f == "meta.yaml" else open(os.path.join(d, f)).read())
