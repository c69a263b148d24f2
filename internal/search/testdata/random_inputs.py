"""Random filters and order_by entries for exploring differences from MLflow.

    python random_inputs.py /tmp/x/oracle_inputs.json
    cp oracle.py /tmp/x/ && python /tmp/x/oracle.py
    SEARCH_ORACLE=/tmp/x/oracle.json go test ./internal/search -run TestOracle

Cases that pass are worth folding into oracle_inputs.json.
"""
import sys
import json, random
random.seed(7)
idents = ["metrics.m1","metric.m","params.p","param.`a b`","tags.t","tag.\"x.y\"","tags.mlflow.note","attributes.status",
 "status","run_id","run_name","`run name`","\"Run Name\"","start_time","end_time","created","Created","user_id","artifact_uri",
 "dataset.name","datasets.digest","dataset.context","foo","foo.bar","attr.run_id","run.status","`tags`.t","metrics.`m-1`",
 "name","experiment_id","creation_time","last_update_time","tags.`k`","attribute.name","metrics.","lifecycle_stage","'x'","1","params.a.b"]
ops = ["=","!=","<",">","<=",">=","==","<>","LIKE","like","ILIKE","Ilike","IN","in","NOT IN","not in","NOT LIKE","IS NULL","IS NOT NULL","is null","=~"]
vals = ["'a'","\"a\"","1","-1","1.5","1e3","-2.5E-2",".5","5.","a","NULL","true","('a','b')","('a')","()","(1,2)","('a',)","(\"x\", 'y')",
 "'it''s'","'a\\'b'","'%a_'","''","0x1F","1e","'a' 'b'","`x`","\"a\".b","('a\\nb', 'c')","('a' 'b')","(-1)","('a', None)","(1.5, 'a')"]
seps = [" AND "," and "," And ", " ", " OR ", "  AND  ", " AND AND ", ";", "; "]
def clause():
    i = random.choice(idents); o = random.choice(ops)
    if o.upper().startswith("IS"):
        return f"{i} {o}"
    return f"{i} {o} {random.choice(vals)}"
rf=[]
for _ in range(1500):
    n = random.choice([1,1,1,2,2,3])
    s = clause()
    for _ in range(n-1):
        s += random.choice(seps) + clause()
    if random.random()<0.1: s = s.replace(" ", "", random.randint(1,3))
    rf.append(s)
ordid = idents + ["metrics.rmse","params.`x y`","tags.\"a b\"","tags.`a\"b`"]
ro=[]
for _ in range(400):
    s = random.choice(ordid)
    r = random.random()
    if r<0.3: s += " " + random.choice(["ASC","DESC","asc","desc","Desc","UP","DESC ASC","NULLS"])
    elif r<0.4: s = " "+s
    elif r<0.5: s += random.choice(["\tDESC","  ASC", ", x"])
    ro.append(s)
json.dump({"run_filter": sorted(set(rf)), "experiment_filter": sorted(set(rf)), "run_order_by": sorted(set(ro)), "experiment_order_by": sorted(set(ro))},
          open(sys.argv[1],"w"), indent=1)
