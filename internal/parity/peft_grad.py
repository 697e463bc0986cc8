"""Loss and LoRA gradients of PEFT on token rows, for parity_test.go.

argv: base GGUF path (transformers loads and dequantizes it). stdin: JSONL
requests {"dir": PEFT adapter directory, "rows": [{"ids", "loss"}], "out":
safetensors path}. For each: the loss is the mean cross-entropy over the
rows' labelled tokens (token i labelled: predicted from position i-1), as
spectrum's trainer defines a step's loss; its gradients with respect to the
LoRA factors are saved to out under PEFT's state-dict names
(adapter_model.safetensors names). Result line: {"loss", "n_labels"}.
"""

import json
import sys

import torch
from peft import PeftModel
from safetensors.torch import save_file

from hfcommon import load_model


def main():
    path = sys.argv[1]
    base = load_model(path)
    for line in sys.stdin:
        req = json.loads(line)
        model = PeftModel.from_pretrained(base, req["dir"], is_trainable=True)
        model.eval()  # no dropout; gradients are still computed
        model.zero_grad()
        total = sum(sum(1 for i, l in enumerate(r["loss"]) if l and i > 0) for r in req["rows"])
        loss_sum = 0.0
        for r in req["rows"]:
            ids = torch.tensor([r["ids"]])
            labels = torch.tensor([[t if l else -100 for t, l in zip(r["ids"], r["loss"])]])
            logits = model(input_ids=ids).logits[0, :-1].float()
            ce = torch.nn.functional.cross_entropy(logits, labels[0, 1:], ignore_index=-100, reduction="sum")
            (ce / total).backward()
            loss_sum += ce.item()
        grads = {}
        for name, p in model.named_parameters():
            if "lora_" in name and p.grad is not None:
                grads[name.replace(".default", "")] = p.grad.detach().contiguous()
        save_file(grads, req["out"])
        print(json.dumps({"loss": loss_sum / total, "n_labels": total}))
        sys.stdout.flush()
        base = model.unload()


if __name__ == "__main__":
    main()
