"""One table of the study's paired comparisons: for every headline metric
and every model after the base in colon, its value, Δ from the base in
colon [95 % interval], Holm-adjusted p, and whether it holds. Reads
steer.json, coverage.json and dist.json from the folder given."""

import json
import sys


def label(m):
    s = m["model"].rsplit("/", 1)[-1].removesuffix(".gguf")
    for a in m["adapters"]:
        parts = a["path"].split("/")
        name = parts[-1].removesuffix(".gguf")
        if name == "adapter" and len(parts) > 1:  # runs/NAME/adapter.gguf: the configuration's name
            name = parts[-2]
        s += "+" + name
    return s + " (" + m["format"] + ")"


def value(m, metric):
    parts = metric.split(" ")
    if parts[0] == "steer":
        return m["steer"][parts[1]][parts[2]]
    if parts[0] == "dist":
        return m["dist"][parts[1]][parts[2]]["mean"]
    if parts[0] == "coverage":
        return m["coverage_aggregate"][parts[1]][parts[2]]["mean"]
    return None


out = sys.argv[1]
print("| metric | reference (base, colon) | model | value | Δ [95 % interval] | p (Holm) |")
print("| --- | --- | --- | --- | --- | --- |")
for kind in ("steer", "coverage", "dist"):
    res = json.load(open(f"{out}/{kind}.json"))
    models = res["models"]
    idx, seen = 1, set()
    for c in res.get("comparisons", []):
        if "model_index" not in c:  # results written before model_index: grouped by model, in order
            if c["metric"] in seen:
                idx, seen = idx + 1, set()
            seen.add(c["metric"])
            c["model_index"] = idx
        m, ref = models[c["model_index"]], models[0]
        v, rv = value(m, c["metric"]), value(ref, c["metric"])
        mark = " **holds**" if c["holds"] else ""
        ci = "one unit" if c["ci_lo"] is None else f"{c['ci_lo']:+.4f}, {c['ci_hi']:+.4f}"
        print(f"| {c['metric']} | {rv:.4f} | {label(m)} | {v:.4f} | {c['delta']:+.4f} [{ci}]{mark} | {c['p_holm']:.3g} |")
