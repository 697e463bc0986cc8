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
