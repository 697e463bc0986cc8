package remote

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/spectrumkit/spectrum/eval"
	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/sample"
)

// SampleJob asks for N completions of one rendered prompt.
type SampleJob struct {
	Row    int
	Task   string
	Prompt string
	// N is the number of completions wanted, numbered 0 … N−1.
	N int
	// Have, if set, reports the indices that exist already (a resumed run);
	// only the others are drawn.
	Have func(index int) bool
}

// SampleParams are the sampling settings shared by all jobs.
type SampleParams struct {
	MaxTokens int
	Temp      float64
	TopP      float64 // 1: off
	TopK      int     // 0: off
	MinP      float64 // 0: off
	Seed      uint64
	Stop      []string
	// FirstLine cuts each completion at its first newline and strips it,
	// the reference coverage protocol (as sample.Request.FirstLine).
	FirstLine bool
	// PerRequest caps n per request (default 16); servers that return fewer
	// choices than asked (llama-cpp-python returns one) are asked again.
	PerRequest int
	// Concurrency is the number of requests in flight (default 4).
	Concurrency int
	// CountTokens counts a completion's tokens with the model's tokenizer,
	// for replies that do not say it per choice (usage counts all choices
	// together); nil leaves such counts at 0.
	CountTokens func(text string) int
}

// Sample draws the completions of jobs concurrently. emit gets each
// request's completions as they arrive (never concurrently); its error stops
// the run. Each request carries its own seed (derived from Seed, the row and
// the first completion index), so reruns ask the same questions.
func (c *Client) Sample(ctx context.Context, jobs []SampleJob, p SampleParams, emit func(sample.Completion) error) error {
	if p.MaxTokens < 1 {
		return fmt.Errorf("remote: max tokens must be ≥ 1, got %d", p.MaxTokens)
	}
	per := p.PerRequest
	if per <= 0 {
		per = 16
	}
	conc := p.Concurrency
	if conc <= 0 {
		conc = 4
	}
	stop := p.Stop
	if p.FirstLine {
		stop = append(append([]string{}, stop...), "\n")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		mu.Unlock()
	}
	// Work is cut into units of at most per completions, so that one row's
	// completions are drawn by several requests at once.
	type unit struct {
		job     int
		indices []int
	}
	var units []unit
	for ji, j := range jobs {
		var cur []int
		for i := range j.N {
			if j.Have != nil && j.Have(i) {
				continue
			}
			cur = append(cur, i)
			if len(cur) == per {
				units = append(units, unit{ji, cur})
				cur = nil
			}
		}
		if len(cur) > 0 {
			units = append(units, unit{ji, cur})
		}
	}
	work := make(chan unit)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				j := jobs[u.job]
				for pos := 0; pos < len(u.indices) && ctx.Err() == nil; {
					seed := sampleSeed(p.Seed, j.Row, u.indices[pos])
					req := CompletionRequest{Prompt: j.Prompt, MaxTokens: p.MaxTokens, N: len(u.indices) - pos, Stop: stop, Seed: &seed,
						Temperature: ptr(p.Temp), TopP: ptr(1.0), MinP: ptr(p.MinP)}
					if p.TopP > 0 && p.TopP < 1 {
						req.TopP = ptr(p.TopP)
					}
					if p.TopK > 0 {
						req.TopK = ptr(p.TopK)
					}
					resp, err := c.Complete(ctx, req)
					if err != nil {
						fail(fmt.Errorf("row %d: %w", j.Row, err))
						return
					}
					mu.Lock()
					for _, ch := range resp.Choices {
						if pos >= len(u.indices) {
							break
						}
						text := ch.Text
						tokens := 0
						if len(resp.Choices) == 1 && resp.Usage != nil {
							tokens = resp.Usage.CompletionTokens
						} else if p.CountTokens != nil {
							tokens = p.CountTokens(text)
						}
						if p.FirstLine {
							if i := strings.IndexByte(text, '\n'); i >= 0 {
								text = text[:i]
							}
							text = strings.TrimSpace(text)
						}
						finish := sample.FinishStop
						if ch.FinishReason == "length" {
							finish = sample.FinishLength
						}
						if err := emit(sample.Completion{Row: j.Row, Task: j.Task, Index: u.indices[pos], Text: text, Tokens: tokens, Finish: finish}); err != nil {
							mu.Unlock()
							fail(err)
							return
						}
						pos++
					}
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for _, u := range units {
		select {
		case work <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// sampleSeed derives a request's seed; servers with per-request seeds
// (llama-cpp-python, vLLM) then give independent draws per request.
func sampleSeed(seed uint64, row, index int) uint64 {
	x := seed ^ uint64(row)*0x9e3779b97f4a7c15 ^ uint64(index)*0xbf58476d1ce4e5b9
	x ^= x >> 31
	return x & (1<<31 - 1) // servers take 32-bit seeds
}

// Sampler draws completions of tokenized prompts on a server, with the
// interface of sample.Engine's Run (for eval coverage): the prompt tokens
// are turned back into text, stop tokens into stop strings.
type Sampler struct {
	Client *Client
	Tok    format.Tokenizer
	Params SampleParams // Concurrency and PerRequest; the rest comes from each request
}

// Run draws r.N completions of r.Prompt.
func (s *Sampler) Run(ctx context.Context, r *sample.Request, emit func(sample.Completion) error) error {
	text := PromptText(s.Tok, r.Prompt)
	p := s.Params
	p.MaxTokens, p.Temp, p.TopP, p.TopK, p.MinP, p.Seed, p.FirstLine = r.MaxTokens, float64(r.Temp), float64(r.TopP), r.TopK, float64(r.MinP), r.Seed, r.FirstLine
	p.Stop = append([]string(nil), r.Stop...)
	for _, t := range r.StopTokens {
		p.Stop = append(p.Stop, s.Tok.TokenToPiece(int32(t)))
	}
	return s.Client.Sample(ctx, []SampleJob{{Row: r.Row, Task: r.Task, Prompt: text, N: r.N}}, p, emit)
}

// CheckTokenizer asks the server to read prompt (as text, one new token)
// and compares the prompt tokens it reports with the local tokenizer's:
// a server serving another model than the GGUF would otherwise sample
// happily from the wrong distribution. Servers that report no usage pass.
func CheckTokenizer(ctx context.Context, c *Client, tok format.Tokenizer, prompt []int32) error {
	text := PromptText(tok, prompt)
	resp, err := c.Complete(ctx, CompletionRequest{Prompt: text, MaxTokens: 1, Temperature: ptr(0.0)})
	if err != nil {
		return err
	}
	if resp.Usage == nil || resp.Usage.PromptTokens == 0 {
		return nil
	}
	if got, want := resp.Usage.PromptTokens, len(prompt); got != want {
		return fmt.Errorf("the server's tokenizer reads the first prompt as %d tokens, the GGUF's as %d: is %s serving the same model as the GGUF (model %q)?", got, want, c.URL(), c.Model)
	}
	return nil
}

// EvalBackend is eval.Config.Remote for server c: steerability and
// distributional scoring (the method is detected at the first score) and
// coverage sampling run on the server, concurrency requests at a time; the
// local GGUF gives the tokenizer and format.
func EvalBackend(c *Client, concurrency int) func(context.Context, *llama.Model) (*eval.RemoteBackend, error) {
	return func(ctx context.Context, tok *llama.Model) (*eval.RemoteBackend, error) {
		rs := &Scorer{Client: c, Tok: tok, Concurrency: concurrency}
		return &eval.RemoteBackend{
			Rows: rs, Candidates: rs, Tokens: rs.TokenCount,
			Sampler: &Sampler{Client: c, Tok: tok, Params: SampleParams{Concurrency: concurrency}},
			Server:  &eval.ServerInfo{URL: c.URL(), Model: c.Model},
		}, nil
	}
}
