"""The reference stack's side of `make bench`'s side-by-side (issue 21).

Trains a PEFT LoRA on token rows, or runs transformers' forward over them,
with the weights transformers dequantizes from the same GGUF to F32, and
prints one JSON object: tokens/s after the warm-up rows and peak RSS.

    python peft_bench.py --gguf MODEL.gguf --rows rows.jsonl --threads 1 \
        --mode train|forward [--warmup 2] [--rank 16 --alpha 32 --lr 1e-4]

rows.jsonl holds `spectrum suite export --to tokens` records:
{"input_ids": [...], "labels": [...]} with -100 on unscored tokens. Training
is one row per step, AdamW, LoRA on all seven projections, logits at every
position (what transformers computes); forward is torch.no_grad() logits.
"""

import argparse
import json
import os
import resource
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--rows", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mode", choices=["train", "forward"], default="train")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    a = ap.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    from transformers import AutoModelForCausalLM

    rows = [json.loads(l) for l in open(a.rows) if l.strip()]
    d, f = os.path.split(os.path.abspath(a.gguf))
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    load_s = time.time() - t0

    if a.mode == "train":
        from peft import LoraConfig, get_peft_model

        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        model = get_peft_model(model, LoraConfig(r=a.rank, lora_alpha=a.alpha, lora_dropout=0.0, target_modules=targets))
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=a.lr, weight_decay=0.0)
    else:
        model.eval()

    tokens, seconds, losses = 0, 0.0, []
    for i, r in enumerate(rows):
        ids = torch.tensor([r["input_ids"]])
        s = time.perf_counter()
        if a.mode == "train":
            out = model(input_ids=ids, labels=torch.tensor([r["labels"]]))
            out.loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(out.loss.item())
        else:
            with torch.no_grad():
                model(input_ids=ids).logits.sum().item()
        el = time.perf_counter() - s
        if i >= a.warmup:
            tokens += len(r["input_ids"])
            seconds += el
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "mode": a.mode,
        "threads": a.threads,
        "rows": len(rows) - a.warmup,
        "tokens": tokens,
        "seconds": seconds,
        "tok_per_s": tokens / seconds if seconds else 0,
        "peak_rss_mib": rss_mib,
        "load_s": load_s,
        "first_loss": losses[0] if losses else None,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
