package llama

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// GenerateParams control Context.Generate.
type GenerateParams struct {
	MaxTokens int      // tokens to generate (≥ 1)
	Sampler   *Sampler // how to choose each token
	Seq       SeqID    // the sequence to use (its KV memory is cleared first)
	// Timings, if set, receives how long the prompt and the generation took
	// (what llama.cpp prints as prompt eval and eval times).
	Timings *Timings
}

// Timings splits a Generate call's time: prompt processing, then sampling
// and decoding the new tokens one at a time.
type Timings struct {
	PromptTokens    int
	Prompt          time.Duration
	Generated       int // tokens decoded after the prompt (the last one sampled is not decoded)
	Generation      time.Duration
	Sampled         int
	TotalGeneration time.Duration // sampling included
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
	t0 := time.Now()
	for _, t := range prompt {
		p.Sampler.Accept(t)
	}
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
	t1 := time.Now()
	if p.Timings != nil {
		*p.Timings = Timings{PromptTokens: len(prompt), Prompt: t1.Sub(t0)}
		defer func() {
			p.Timings.TotalGeneration = time.Since(t1)
		}()
	}
	var decodeTime time.Duration
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
		td := time.Now()
		if err := c.Decode(b); err != nil {
			return out, err
		}
		decodeTime += time.Since(td)
		if p.Timings != nil {
			p.Timings.Generated++
			p.Timings.Generation = decodeTime
		}
	}
	if p.Timings != nil {
		p.Timings.Sampled = len(out)
	}
	return out, nil
}
