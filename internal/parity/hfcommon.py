"""Helpers shared by the parity scripts."""

import os

from transformers import AutoTokenizer


def load_tokenizer(path):
    """The HF tokenizer transformers converts from the GGUF at path, cached
    as a saved tokenizer in $SPECTRUM_HF_TOKENIZER_CACHE/<file name> when
    that is set (converting Gemma's 262k vocabulary takes ~20 s)."""
    cache = os.environ.get("SPECTRUM_HF_TOKENIZER_CACHE")
    where = os.path.join(cache, os.path.basename(path)) if cache else None
    if where and os.path.isdir(where):
        return AutoTokenizer.from_pretrained(where)
    tok = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    if where:
        tok.save_pretrained(where)
    return tok


def load_model(path):
    """The model of the GGUF at path as transformers loads it (dequantized
    to float32), in eval mode, with torch using $OMP_NUM_THREADS threads."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
    model.eval()
    return model
