package format

import (
	"errors"
	"fmt"
)

// Tokenizer is what tokenization needs from a model; *llama.Model
// satisfies it. BOS and EOS return -1 when the vocabulary has none.
type Tokenizer interface {
	// Tokenize tokenizes text; addSpecial adds the tokens the model adds
	// around a sequence (BOS when AddBOS), parseSpecial lets special-token
	// texts such as "<start_of_turn>" become their tokens.
	Tokenize(text string, addSpecial, parseSpecial bool) ([]int32, error)
	TokenToPiece(tok int32) string
	BOS() int32
	EOS() int32
	AddBOS() bool
}

// TurnEndTokens are the end-of-turn tokens that stay at the end of a segment
// even when the tokenizer's EOS is one of them (§3.1).
var TurnEndTokens = []string{"<|eot_id|>", "<|im_end|>", "<end_of_turn>"}

// Tokens is a tokenized row.
type Tokens struct {
	IDs []int32
	// Loss marks the labelled (scored) tokens.
	Loss []bool
	// ExampleIndex numbers the contiguous runs of labelled tokens 0, 1, …;
	// -1 on unlabelled tokens (§3.3).
	ExampleIndex []int
}

// Len returns the number of tokens.
func (t *Tokens) Len() int { return len(t.IDs) }

// NumLabels returns the number of labelled tokens.
func (t *Tokens) NumLabels() int {
	n := 0
	for _, l := range t.Loss {
		if l {
			n++
		}
	}
	return n
}

// NumExamples returns the number of labelled runs.
func (t *Tokens) NumExamples() int {
	n := 0
	for _, e := range t.ExampleIndex {
		if e+1 > n {
			n = e + 1
		}
	}
	return n
}

// Truncate cuts the row to at most maxLen tokens (maxLen ≤ 0: no cut), as
// the reference's truncate_to_max_length: a cut output keeps the loss on its
// prefix. It reports whether the row is left without any labelled token
// (such a row is dropped from training).
func (t *Tokens) Truncate(maxLen int) (noLabels bool) {
	if maxLen > 0 && len(t.IDs) > maxLen {
		t.IDs = t.IDs[:maxLen:maxLen]
		t.Loss = t.Loss[:maxLen:maxLen]
		t.ExampleIndex = t.ExampleIndex[:maxLen:maxLen]
	}
	return t.NumLabels() == 0
}

// ExampleIndices returns the example index of each position of a loss mask:
// the index of the contiguous run of labelled tokens it belongs to, -1 for
// unlabelled tokens. Two scored segments with no unscored token between them
// form one run (as in the reference).
func ExampleIndices(loss []bool) []int {
	out := make([]int, len(loss))
	run := -1
	for i, l := range loss {
		switch {
		case !l:
			out[i] = -1
		case i > 0 && loss[i-1]:
			out[i] = run
		default:
			run++
			out[i] = run
		}
	}
	return out
}

// Tokenize tokenizes rendered segments as the reference's
// tokenize_loss_texts (§3.1): each segment separately, with the model's
// special tokens added and special-token texts parsed; at the start of any
// segment but the first, up to two BOS tokens (the added one and a literal
// "<bos>" in the text) are dropped when the tokenizer adds BOS; an EOS at the
// end of a segment is
// dropped unless the EOS is one of TurnEndTokens; a segment's tokens carry
// its loss flag. Finally EOS is appended, unlabelled, unless the row already
// ends with it (or the vocabulary has none). Use TokenizePrompt for a
// generation prompt.
func Tokenize(tok Tokenizer, segs []Segment) (Tokens, error) {
	return tokenize(tok, segs, true)
}

// TokenizePrompt is Tokenize without the final EOS: the tokens of a prompt
// to generate from (segments rendered with startGeneration).
func TokenizePrompt(tok Tokenizer, segs []Segment) (Tokens, error) {
	return tokenize(tok, segs, false)
}

func tokenize(tok Tokenizer, segs []Segment, finalEOS bool) (Tokens, error) {
	if tok == nil {
		return Tokens{}, errors.New("format: tokenize: no tokenizer")
	}
	bos, eos := tok.BOS(), tok.EOS()
	// Only a BOS the tokenizer adds is dropped: HF tokenizers that add none
	// (Qwen) have no bos_token_id, while GGUFs still name one (often the EOS).
	addBOS := bos >= 0 && tok.AddBOS()
	keepEOS := eos >= 0 && isTurnEnd(tok, eos)
	var t Tokens
	for i, s := range segs {
		ids, err := tok.Tokenize(s.Text, true, true)
		if err != nil {
			return Tokens{}, fmt.Errorf("format: tokenize segment %d %q: %w", i, s.Text, err)
		}
		// Up to two: the one the tokenizer adds and a literal "<bos>" the
		// text starts with, as the reference's two checks drop them.
		for n := 0; i > 0 && addBOS && n < 2 && len(ids) > 0 && ids[0] == bos; n++ {
			ids = ids[1:]
		}
		if len(ids) > 0 && eos >= 0 && ids[len(ids)-1] == eos && !keepEOS {
			ids = ids[:len(ids)-1]
		}
		t.IDs = append(t.IDs, ids...)
		for range ids {
			t.Loss = append(t.Loss, s.Loss)
		}
	}
	if finalEOS && eos >= 0 && (len(t.IDs) == 0 || t.IDs[len(t.IDs)-1] != eos) {
		t.IDs = append(t.IDs, eos)
		t.Loss = append(t.Loss, false)
	}
	if t.IDs == nil {
		t.IDs, t.Loss = []int32{}, []bool{}
	}
	t.ExampleIndex = ExampleIndices(t.Loss)
	return t, nil
}

// isTurnEnd reports whether tok is one of TurnEndTokens.
func isTurnEnd(tk Tokenizer, tok int32) bool {
	for _, s := range TurnEndTokens {
		if id, ok := singleToken(tk, s); ok && id == tok {
			return true
		}
	}
	return false
}

// singleToken returns the token of text when, with special-token parsing,
// text is exactly one token of the vocabulary.
func singleToken(tk Tokenizer, text string) (int32, bool) {
	ids, err := tk.Tokenize(text, false, true)
	if err != nil || len(ids) != 1 {
		return -1, false
	}
	return ids[0], true
}
