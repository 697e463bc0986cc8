"""A real TRL SFTTrainer run on rows exported by spectrum, for
parity_test.go: the loss of its first step (LoRA B = 0, so the base model's
loss on the exported rows) is what the test compares with spectrum's
trainer.

argv: base GGUF path. stdin: JSONL requests {"kind", "file", "eos_token"?}:
  kind "tokens": `suite export --to tokens` records (input_ids, labels),
      given to SFTTrainer as a tokenized dataset (labels used as they are);
  kind "trl": `suite export --to trl` records (prompt, completion), which
      TRL tokenizes itself (completion-only loss); eos_token, if set, is
      SFTConfig.eos_token (TRL appends it to completions that lack it);
  kind "axolotl": `suite export --to axolotl` records, tokenized by
      axolotl's documented input_output rule (each segment on its own, no
      special tokens added; labels where "label" is true) and then given to
      SFTTrainer like "tokens".
Result line: {"losses": [loss of each step], "records", "labelled"}.
Two steps run (lr 1e-4, one batch holding every record).
"""

import contextlib
import json
import sys
import tempfile

from datasets import Dataset
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer

from hfcommon import load_model, load_tokenizer

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def axolotl_tokens(tok, rec):
    ids, labels = [], []
    for seg in rec["segments"]:
        part = tok(seg["text"], add_special_tokens=False)["input_ids"]
        ids += part
        labels += part if seg["label"] else [-100] * len(part)
    return {"input_ids": ids, "labels": labels}


def main():
    path = sys.argv[1]
    tok = load_tokenizer(path)
    model = load_model(path)
    # transformers marks a model loaded from a GGUF as quantized and its
    # Trainer then refuses it, but the weights are plain float32 tensors
    # once loaded: drop the marker.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for line in sys.stdin:
        req = json.loads(line)
        recs = [json.loads(l) for l in open(req["file"]) if l.strip()]
        if req["kind"] == "axolotl":
            recs = [axolotl_tokens(tok, r) for r in recs]
        if req["kind"] in ("tokens", "axolotl"):
            data = Dataset.from_list([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in recs])
            labelled = sum(sum(1 for x in r["labels"][1:] if x != -100) for r in recs)
        else:
            data = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in recs])
            labelled = None
        with tempfile.TemporaryDirectory() as out:
            cfg = SFTConfig(
                output_dir=out, max_steps=2, per_device_train_batch_size=len(recs), gradient_accumulation_steps=1,
                learning_rate=1e-4, lr_scheduler_type="constant", warmup_steps=0, logging_steps=1, save_strategy="no",
                report_to="none", use_cpu=True, bf16=False, fp16=False, max_length=None, packing=False,
                completion_only_loss=True, dataloader_drop_last=False, seed=0,
                eos_token=req.get("eos_token"), disable_tqdm=True)
            # eos_token (the last request's, "trl") also changes tok.eos_token.
            trainer = SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok,
                                 peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, lora_dropout=0.0,
                                                        bias="none", task_type="CAUSAL_LM"))
            if labelled is None:  # what TRL built from the completion mask
                labelled = sum(sum(1 for x in ex["labels"][1:] if x != -100) for ex in trainer.train_dataset)
            with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints its logs
                trainer.train()
            losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
            model = trainer.model.unload()  # the base again, for the next request
        print(json.dumps({"losses": losses, "records": len(recs), "labelled": labelled}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
