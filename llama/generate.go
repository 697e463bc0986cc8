package llama

import (
	"context"
	"errors"
	"fmt"
)

// GenerateParams control Context.Generate.
type GenerateParams struct {
	MaxTokens int      // tokens to generate (≥ 1)
	Sampler   *Sampler // how to choose each token
	Seq       SeqID    // the sequence to use (its KV memory is cleared first)
}

// Generate decodes prompt in sequence p.Seq and then samples up to
// p.MaxTokens tokens one at a time, calling emit for each; it stops early at
// an end-of-generation token (not emitted), when emit returns false, or when
// ctx is done. It returns the generated tokens.
func (c *Context) Generate(ctx context.Context, prompt []Token, p GenerateParams, emit func(Token) bool) ([]Token, error) {
	if p.MaxTokens < 1 {
		return nil, fmt.Errorf("llama: number of tokens to generate must be ≥ 1, got %d", p.MaxTokens)
	}
	if p.Sampler == nil {
		return nil, errors.New("llama: Generate needs a sampler")
	}
	if len(prompt) == 0 {
		return nil, errors.New("llama: Generate needs at least one prompt token (e.g. BOS)")
	}
	if need := len(prompt) + p.MaxTokens; need > c.NCtxSeq() {
		return nil, fmt.Errorf("llama: prompt (%d tokens) plus %d new tokens exceed the context of %d tokens", len(prompt), p.MaxTokens, c.NCtxSeq())
	}
	c.SeqRm(p.Seq, 0, -1)
	b, err := NewBatch(max(c.nBatch, 1), 1)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	// Feed the prompt in n_batch chunks; only its last token needs logits.
	for start := 0; start < len(prompt); start += c.nBatch {
		end := min(start+c.nBatch, len(prompt))
		b.Clear()
		if err := b.AddSeq(prompt[start:end], Pos(start), p.Seq, end == len(prompt)); err != nil {
			return nil, err
		}
		if err := c.Decode(b); err != nil {
			return nil, err
		}
	}
	out := make([]Token, 0, p.MaxTokens)
	pos := Pos(len(prompt))
	last := b.Len() - 1
	seq := []SeqID{p.Seq}
	for len(out) < p.MaxTokens {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		tok, err := p.Sampler.Sample(c, last)
		if err != nil {
			return out, err
		}
		if c.model.IsEOG(tok) {
			break
		}
		out = append(out, tok)
		if emit != nil && !emit(tok) {
			break
		}
		if len(out) == p.MaxTokens {
			break
		}
		b.Clear()
		if last, err = b.Add(tok, pos, seq, true); err != nil {
			return out, err
		}
		pos++
		if err := c.Decode(b); err != nil {
			return out, err
		}
	}
	return out, nil
}
