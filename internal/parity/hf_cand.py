"""Candidate log-probabilities with transformers and the reference's
distributional metrics, for parity_test.go.

argv: GGUF path (transformers loads and dequantizes it). stdin: JSONL
{"seqs": [[ids]], "from": n, "target_probs": [p]}: each sequence is the
prompt (its first n tokens) followed by one candidate; log q~ of a
candidate is the sum of its tokens' log-probabilities. stdout: {"logprobs",
"js", "kl", "reverse_kl"}, the metrics written from the reference's
definitions (spectrum-reference.md §5.3): q = q~ normalised over the
candidates, both vectors smoothed with 1e-6 and renormalised, natural logs.
"""

import json
import sys

import numpy as np
import torch

from hfcommon import load_model

EPS = 1e-6


def smooth(v):
    v = np.asarray(v, dtype=np.float64) + EPS
    return v / v.sum()


def main():
    path = sys.argv[1]
    model = load_model(path)
    for line in sys.stdin:
        req = json.loads(line)
        n = req["from"]
        seqs = req["seqs"]
        width = max(len(s) for s in seqs)
        ids = torch.tensor([s + [0] * (width - len(s)) for s in seqs])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
        with torch.no_grad():  # one right-padded batch: padding never precedes a scored token
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        lps = [sum(logp[k, i - 1, s[i]].item() for i in range(n, len(s))) for k, s in enumerate(seqs)]
        lq = np.array(lps)
        q = np.exp(lq - lq.max())
        q /= q.sum()
        p, q = smooth(req["target_probs"]), smooth(q)
        m = (p + q) / 2
        print(json.dumps({
            "logprobs": lps,
            "js": float(0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m))),
            "kl": float(np.sum(p * np.log(p / q))),
            "reverse_kl": float(np.sum(q * np.log(q / p))),
        }))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
