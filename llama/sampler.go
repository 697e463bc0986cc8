package llama

/*
#include <stdlib.h>
#include <llama.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
)

// SamplerParams describe a sampler chain. The stages run in the order
// logit bias → top-k → top-p → min-p → temperature → draw. Zero values
// disable a stage (TopK 0, TopP 0 or 1, MinP 0), so the zero SamplerParams
// with Temp 1 samples from the model's untruncated distribution — what the
// Spectrum coverage protocol asks for (llama.cpp's usual defaults are not
// neutral). Temp ≤ 0 is greedy decoding.
type SamplerParams struct {
	Temp      float32
	TopK      int
	TopP      float32
	MinP      float32
	Seed      uint32
	LogitBias map[Token]float32
	// RepeatPenalty divides the logits of tokens seen in the last
	// RepeatLastN accepted tokens (llama.cpp's --repeat-penalty; 1 or 0:
	// off). RepeatLastN 0 means 64, as llama.cpp's default.
	RepeatPenalty float32
	RepeatLastN   int
}

// Sampler draws tokens from a context's logits. Use one per sequence; it is
// not safe for concurrent use.
//
// Neutral chains (no top-k, top-p or min-p: what distribution measurements
// use) draw in our own vectorized C kernel: one pass for the maximum, one
// for the block sums of exp((x − max)/T), then the token from u·Σ (u from a
// PCG stream seeded with Seed). llama.cpp's chain builds a 12-byte
// candidate per vocabulary entry and exponentiates with scalar expf, about
// 2 ms per draw on a 262,144-token vocabulary: a quarter of the time of
// batched sampling from Gemma 3 270M on 2 cores. Truncating chains use
// llama.cpp's samplers.
type Sampler struct {
	c *C.struct_llama_sampler

	fast   bool
	closed bool
	temp   float32
	bias   []C.llama_logit_bias
	rng    *rand.Rand
	sums   []float32
	saved  []float32
}

// NewSampler builds a sampler chain for model m.
func NewSampler(m *Model, p SamplerParams) (*Sampler, error) {
	switch {
	case p.TopK < 0:
		return nil, fmt.Errorf("llama: top-k %d must be ≥ 0 (0 disables it)", p.TopK)
	case p.TopP < 0 || p.TopP > 1:
		return nil, fmt.Errorf("llama: top-p %g must be in [0, 1]", p.TopP)
	case p.MinP < 0 || p.MinP > 1:
		return nil, fmt.Errorf("llama: min-p %g must be in [0, 1]", p.MinP)
	case p.RepeatPenalty < 0 || p.RepeatLastN < 0:
		return nil, fmt.Errorf("llama: repeat penalty %g and window %d must be ≥ 0", p.RepeatPenalty, p.RepeatLastN)
	}
	penalize := p.RepeatPenalty != 0 && p.RepeatPenalty != 1
	Init()
	if p.TopK == 0 && (p.TopP == 0 || p.TopP == 1) && p.MinP == 0 && !penalize {
		s := &Sampler{fast: true, temp: p.Temp, rng: rand.New(rand.NewPCG(uint64(p.Seed), 0x5a3b1e)),
			sums: make([]float32, m.NVocab()/64+1)}
		for t, b := range p.LogitBias {
			if t < 0 || int(t) >= m.NVocab() {
				return nil, fmt.Errorf("llama: logit bias for token %d outside the vocabulary (%d)", t, m.NVocab())
			}
			s.bias = append(s.bias, C.llama_logit_bias{token: C.llama_token(t), bias: C.float(b)})
		}
		sort.Slice(s.bias, func(i, j int) bool { return s.bias[i].token < s.bias[j].token })
		s.saved = make([]float32, len(s.bias))
		return s, nil
	}
	cp := C.llama_sampler_chain_default_params()
	cp.no_perf = true
	chain := C.llama_sampler_chain_init(cp)
	add := func(s *C.struct_llama_sampler) { C.llama_sampler_chain_add(chain, s) }
	if len(p.LogitBias) > 0 {
		keys := make([]Token, 0, len(p.LogitBias))
		for t := range p.LogitBias {
			if t < 0 || int(t) >= m.NVocab() {
				C.llama_sampler_free(chain)
				return nil, fmt.Errorf("llama: logit bias for token %d outside the vocabulary (%d)", t, m.NVocab())
			}
			keys = append(keys, t)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		bias := make([]C.llama_logit_bias, len(keys))
		for i, t := range keys {
			bias[i] = C.llama_logit_bias{token: C.llama_token(t), bias: C.float(p.LogitBias[t])}
		}
		add(C.llama_sampler_init_logit_bias(C.int32_t(m.NVocab()), C.int32_t(len(bias)), &bias[0]))
	}
	if penalize {
		lastN := p.RepeatLastN
		if lastN == 0 {
			lastN = 64
		}
		add(C.llama_sampler_init_penalties(C.int32_t(lastN), C.float(p.RepeatPenalty), 0, 0))
	}
	if p.Temp <= 0 {
		add(C.llama_sampler_init_greedy())
		return &Sampler{c: chain}, nil
	}
	if p.TopK > 0 {
		add(C.llama_sampler_init_top_k(C.int32_t(p.TopK)))
	}
	if p.TopP > 0 && p.TopP < 1 {
		add(C.llama_sampler_init_top_p(C.float(p.TopP), 1))
	}
	if p.MinP > 0 {
		add(C.llama_sampler_init_min_p(C.float(p.MinP), 1))
	}
	if p.Temp != 1 {
		add(C.llama_sampler_init_temp(C.float(p.Temp)))
	}
	add(C.llama_sampler_init_dist(C.uint32_t(p.Seed)))
	return &Sampler{c: chain}, nil
}

// Sample draws a token from the i-th output of ctx's last Decode and
// accepts it into the chain's state.
func (s *Sampler) Sample(ctx *Context, i int) (Token, error) {
	if s.closed || (!s.fast && s.c == nil) {
		return NoToken, errors.New("llama: Sample on a closed sampler")
	}
	if !ctx.HasLogits(i) {
		return NoToken, fmt.Errorf("llama: no logits for batch index %d", i)
	}
	if !s.fast {
		return Token(C.llama_sampler_sample(s.c, ctx.c, C.int32_t(i))), nil
	}
	lg, err := ctx.Logits(i)
	if err != nil {
		return NoToken, err
	}
	// The bias is added in place and taken back out after the draw.
	for k, b := range s.bias {
		s.saved[k] = lg[b.token]
		lg[b.token] += float32(b.bias)
	}
	u := 0.0
	if s.temp > 0 {
		u = s.rng.Float64()
	}
	tok := draw(lg, s.temp, u, s.sums)
	for k, b := range s.bias {
		lg[b.token] = s.saved[k]
	}
	return Token(tok), nil
}

// Accept records tok as seen without sampling it (a prompt's tokens, for
// the repeat penalty's window). Chains without state ignore it.
func (s *Sampler) Accept(tok Token) {
	if s.closed || s.fast || s.c == nil {
		return
	}
	C.llama_sampler_accept(s.c, C.llama_token(tok))
}

// Reset clears the chain's state (the draw's RNG keeps its position).
func (s *Sampler) Reset() {
	if s.c != nil {
		C.llama_sampler_reset(s.c)
	}
}

// Close frees the sampler.
func (s *Sampler) Close() error {
	if s != nil && s.c != nil {
		C.llama_sampler_free(s.c)
		s.c = nil
	}
	if s != nil {
		s.closed = true
	}
	return nil
}
