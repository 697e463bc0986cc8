"""scipy's paired permutation test and bootstrap interval, for
parity_test.go. stdin: JSONL {"d": differences}; stdout: {"p_exact",
"ci": [lo, hi]}: scipy.stats.permutation_test on the pairs (d, 0) with
permutation_type="samples" (exact: every sign pattern; null above 16
pairs), statistic the mean
difference, two-sided; scipy.stats.bootstrap, percentile method, 20000
resamples, 95 %.
"""

import json
import sys

import numpy as np
from scipy import stats


def main():
    for line in sys.stdin:
        d = np.array(json.loads(line)["d"], dtype=np.float64)
        zero = np.zeros_like(d)
        p = None
        if len(d) <= 16:  # exact: 2^n patterns
            p = float(stats.permutation_test((d, zero), lambda x, y, axis: np.mean(x - y, axis=axis),
                                             vectorized=True, permutation_type="samples", n_resamples=np.inf,
                                             alternative="two-sided").pvalue)
        boot = stats.bootstrap((d,), np.mean, n_resamples=20000, method="percentile", confidence_level=0.95,
                               rng=np.random.default_rng(0))
        print(json.dumps({"p_exact": p,
                          "ci": [float(boot.confidence_interval.low), float(boot.confidence_interval.high)]}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
