"""Segment-wise tokenization with the Hugging Face tokenizer, as the reference
stack's tokenize_loss_texts does it (spectrum-reference.md §3.1), for the
parity test in parity_test.go.

Reads JSONL rows {"segments": [{"text", "loss"}...]} on stdin and writes one
JSONL line per row: {"ids", "loss", "ids_literal", "loss_literal"}.

The tokenizer comes from the GGUF itself (transformers converts its
vocabulary), so both sides read the same file. "ids" applies the BOS rule
only when the tokenizer adds a BOS, as spectrum does; "ids_literal" applies
the reference's rule as written, which also strips a named-but-never-added
BOS (SmolLM2's <|im_start|>) from the start of later segments.
"""

import json
import sys

from hfcommon import load_tokenizer

TURN_ENDS = ("<|eot_id|>", "<|im_end|>", "<end_of_turn>")


def tokenize(tok, segments, adds_bos, literal):
    bos, eos = tok.bos_token_id, tok.eos_token_id
    ids, loss = [], []
    for i, seg in enumerate(segments):
        part = list(tok(seg["text"])["input_ids"])
        drop_bos = i > 0 and bos is not None and (literal or adds_bos)
        # The reference checks twice: once before and once after the EOS
        # rule, so up to two leading BOS tokens go.
        if drop_bos and part and part[0] == bos:
            part = part[1:]
        if part and eos is not None and part[-1] == eos and tok.eos_token not in TURN_ENDS:
            part = part[:-1]
        if drop_bos and part and part[0] == bos:
            part = part[1:]
        ids += part
        loss += [bool(seg["loss"])] * len(part)
    if eos is not None and (not ids or ids[-1] != eos):
        ids.append(eos)
        loss.append(False)
    return ids, loss


def main():
    path = sys.argv[1]
    tok = load_tokenizer(path)
    probe = tok("a")["input_ids"]
    adds_bos = tok.bos_token_id is not None and len(probe) > 0 and probe[0] == tok.bos_token_id
    for line in sys.stdin:
        row = json.loads(line)
        ids, loss = tokenize(tok, row["segments"], adds_bos, False)
        lids, lloss = tokenize(tok, row["segments"], adds_bos, True)
        print(json.dumps({"ids": ids, "loss": loss, "ids_literal": lids, "loss_literal": lloss}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
