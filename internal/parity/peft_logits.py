"""Logits of a base model with a PEFT LoRA adapter, for parity_test.go.

argv: base GGUF path (transformers loads and dequantizes it). stdin: JSONL
requests, one result line each on stdout:
  {"op": "load", "dir", "ids", "out"}: load the PEFT adapter directory dir
      onto the base and write the logits of ids (every position, float32
      little-endian, row after row) to the file out;
  {"op": "make", "dir", "r", "alpha", "seed", "std", "ids", "out"}: make a
      LoRA on q, k, v, o, gate, up and down with normal(0, std) factors
      (torch seed), save it to dir with save_pretrained, write the logits;
  {"op": "base", "ids", "out"}: the base model's logits.
Results: {"ok": true, "vocab"}.
"""

import json
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from hfcommon import load_model

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def logits(model, ids, out):
    with torch.no_grad():
        lg = model(input_ids=torch.tensor([ids])).logits[0].float().contiguous()
    with open(out, "wb") as f:
        f.write(lg.numpy().astype("<f4").tobytes())
    return lg.shape[-1]


def main():
    path = sys.argv[1]
    base = load_model(path)
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "base":
            vocab = logits(base, req["ids"], req["out"])
        elif req["op"] == "load":
            model = PeftModel.from_pretrained(base, req["dir"])
            model.eval()
            vocab = logits(model, req["ids"], req["out"])
            base = model.unload()
        else:
            cfg = LoraConfig(r=req["r"], lora_alpha=req["alpha"], target_modules=TARGETS,
                             lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
            model = get_peft_model(base, cfg)
            gen = torch.Generator().manual_seed(req["seed"])
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if "lora_" in name:
                        p.copy_(torch.randn(p.shape, generator=gen) * req["std"])
            model.eval()
            model.save_pretrained(req["dir"])
            vocab = logits(model, req["ids"], req["out"])
            base = model.unload()
        print(json.dumps({"ok": True, "vocab": vocab}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
