"""transformers' apply_chat_template on conversations, for parity_test.go.

argv: GGUF path (its tokenizer and chat template, as transformers reads
them). stdin: JSONL {"messages": [{"role", "content"}], "add_generation_prompt"}.
stdout: {"text": apply_chat_template(tokenize=False), "ids": the ids
apply_chat_template(tokenize=True) gives (the text tokenized without added
special tokens)}. enable_thinking=False is passed, as the reference does;
templates that do not read it ignore it.

With --phi3-rstrip (argv[2]) the special tokens other than <unk>, <s> and
<|endoftext|> strip the whitespace after them, as Phi-3's own
tokenizer.json marks them (rstrip) and llama.cpp restores by the model's
name; transformers' conversion from the GGUF, which has no such flag, loses
it.
"""

import json
import sys

from tokenizers import AddedToken

from hfcommon import load_tokenizer


def main():
    tok = load_tokenizer(sys.argv[1])
    if sys.argv[2:] == ["--phi3-rstrip"]:
        fix = [AddedToken(t.content, rstrip=True, lstrip=t.lstrip, normalized=t.normalized, special=True,
                          single_word=t.single_word)
               for t in tok.added_tokens_decoder.values()
               if t.special and t.content not in ("<unk>", "<s>", "<|endoftext|>")]
        tok.add_tokens(fix, special_tokens=True)
    for line in sys.stdin:
        req = json.loads(line)
        text = tok.apply_chat_template(req["messages"], tokenize=False,
                                       add_generation_prompt=req["add_generation_prompt"], enable_thinking=False)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        print(json.dumps({"text": text, "ids": ids}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
