"""The reference's calibration error, written from its description
(spectrum-reference.md §5.1.3, get_ece_stats) with numpy, for
parity_test.go.

stdin: JSONL {"points": [[logp, correct]...], "n_bins"}; stdout: {"ece"}
(null when no point is above the threshold).
"""

import json
import math
import sys

import numpy as np


def ece(points, n_bins, thresh=0.01):
    lt = math.log(thresh)
    lp = np.array([p[0] for p in points], dtype=np.float64)
    ok = np.array([bool(p[1]) for p in points], dtype=bool)
    correct = lp[ok & (lp > lt)]
    pooled = np.concatenate([correct, lp[~ok & (lp > lt)]])
    n = min(n_bins, len(pooled))
    if n == 0:
        return None
    edges = np.percentile(pooled, np.linspace(0, 100, n + 1))
    gaps = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (pooled >= lo) & (pooled <= hi)
        if inside.sum() == 0:
            continue
        conf = np.exp(pooled[inside]).mean()
        acc = ((correct >= lo) & (correct <= hi)).sum() / inside.sum()
        gaps.append(abs(conf - acc))
    return float(np.mean(gaps))


for line in sys.stdin:
    req = json.loads(line)
    print(json.dumps({"ece": ece(req["points"], req["n_bins"])}))
    sys.stdout.flush()
