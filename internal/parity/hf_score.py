"""Per-output scores of tokenized rows with transformers, as the reference's
evaluate_model computes them (spectrum-reference.md §5.1.3), for
parity_test.go.

argv: GGUF path. stdin: JSONL rows {"ids", "loss", "example_index"}. stdout:
one JSONL line per row: {"outputs": [{"example_index", "loss", "all_acc",
"first_acc", "acc", "tokens"}], "calib": [[logp, correct]...]}, where calib
holds every labelled position's correct-token log-probability and the
log-probabilities above log 0.01 of the other tokens there.

The model is loaded from the GGUF by transformers (dequantized to float32),
one row per forward pass, logits in float32 as the reference keeps them.
"""

import json
import math
import sys

import torch

from hfcommon import load_model

LOG_THRESH = math.log(0.01)


def main():
    path = sys.argv[1]
    model = load_model(path)
    for line in sys.stdin:
        row = json.loads(line)
        ids = torch.tensor([row["ids"]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        outs, calib = {}, []
        for p in range(len(row["ids"]) - 1):
            if not row["loss"][p + 1]:
                continue
            tok = row["ids"][p + 1]
            lp = logp[p]
            correct = lp[tok].item()
            am = int(lp.argmax().item()) == tok
            ex = row["example_index"][p + 1]
            o = outs.setdefault(ex, {"example_index": ex, "loss": 0.0, "tokens": 0, "correct": 0,
                                     "first_acc": 1.0 if am else 0.0, "all_acc": 1.0})
            o["loss"] -= correct
            o["tokens"] += 1
            o["correct"] += 1 if am else 0
            if not am:
                o["all_acc"] = 0.0
            calib.append([correct, True])
            others = lp.clone()
            others[tok] = -math.inf
            calib += [[v, False] for v in others[others > LOG_THRESH].tolist()]
        res = []
        for ex in sorted(outs):
            o = outs[ex]
            o["acc"] = o.pop("correct") / o["tokens"]
            res.append(o)
        print(json.dumps({"outputs": res, "calib": calib}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
