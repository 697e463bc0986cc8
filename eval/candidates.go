package eval

import (
	"context"
	"errors"
	"fmt"

	"github.com/spectrumkit/spectrum/llama"
)

// ScoreContinuations returns, for each token sequence, the summed
// log-probability of its tokens at positions ≥ from given everything before
// them (teacher forcing): log q̃_i of a candidate when seqs[i] is the joint
// tokenization of prompt + candidate i and from is the prompt's length.
//
// The prefix the sequences share (up to from) is decoded once in sequence 0;
// each candidate then continues from a copy of it, as its own sequence,
// several candidates per decode, with logits only where a candidate token is
// predicted.
func (s *Scorer) ScoreContinuations(ctx context.Context, seqs [][]llama.Token, from int) ([]float64, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	if from < 1 {
		return nil, errors.New("eval: the scored part must follow at least one token")
	}
	longest := 0
	for _, q := range seqs {
		longest = max(longest, len(q))
	}
	// Shared prefix: common to every sequence, at most from tokens.
	shared := from
	for _, q := range seqs {
		shared = min(shared, len(q))
		for i := 0; i < shared; i++ {
			if q[i] != seqs[0][i] {
				shared = i
				break
			}
		}
	}
	if err := s.ensure(longest); err != nil {
		return nil, err
	}
	if s.opts.NSeqMax < 2 {
		return nil, errors.New("eval: candidate scoring needs at least two sequences")
	}
	s.ctx.MemoryClear()
	out := make([]float64, len(seqs))
	b := s.batch
	if shared > 0 {
		for start := 0; start < shared; start += b.Cap() {
			end := min(start+b.Cap(), shared)
			b.Clear()
			if err := b.AddSeq(seqs[0][start:end], llama.Pos(start), 0, end == shared); err != nil {
				return nil, err
			}
			if err := s.ctx.Decode(b); err != nil {
				return nil, fmt.Errorf("eval: decoding the prompt: %w", err)
			}
			s.Tokens += b.Len()
			s.Decodes++
		}
		// The prefix's last logits predict token `shared` of every candidate.
		if shared >= from {
			for i, q := range seqs {
				if len(q) > shared {
					lp, _, err := s.ctx.TokenLogProb(b.Len()-1, q[shared])
					if err != nil {
						return nil, err
					}
					out[i] += lp
				}
			}
		}
	}
	jobs := make([]job, len(seqs))
	for i, q := range seqs {
		jobs[i] = job{
			ids:   q,
			start: shared,
			want: func(p int) bool {
				return p+1 >= from && p+1 < len(q)
			},
			logits: func(p, bi int) error {
				lp, _, err := s.ctx.TokenLogProb(bi, q[p+1])
				out[i] += lp
				return err
			},
		}
	}
	if err := s.run(ctx, jobs, max(shared, 1)); err != nil {
		return nil, err
	}
	s.ctx.MemoryClear()
	return out, nil
}
