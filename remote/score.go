package remote

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/spectrumkit/spectrum/eval"
	"github.com/spectrumkit/spectrum/format"
)

// ScoringMethod is how a server gives log-probabilities of prompt tokens.
type ScoringMethod string

const (
	// Echo is the OpenAI completions API's echo=true with logprobs (vLLM,
	// llama-cpp-python, SGLang): token_logprobs and top_logprobs for every
	// prompt token.
	Echo ScoringMethod = "echo"
	// PromptLogprobs is vLLM's prompt_logprobs extension.
	PromptLogprobs ScoringMethod = "prompt_logprobs"
)

// ErrNoScoring is returned by DetectScoring for servers that give no
// log-probabilities of prompt tokens.
var ErrNoScoring = errors.New("the server gives no log-probabilities of prompt tokens: it supports neither echo with logprobs nor vLLM's prompt_logprobs, so it cannot score (steer and dist evaluation); sampling still works")

const probeText = "The quick brown fox jumps over the lazy dog."

// DetectScoring finds out which scoring method the server supports by
// scoring a short text both ways.
func (c *Client) DetectScoring(ctx context.Context) (ScoringMethod, error) {
	if toks, err := c.echoTokens(ctx, probeText); err == nil && len(toks) >= 2 {
		return Echo, nil
	} else if err != nil && !isClientError(err) {
		return "", err
	}
	if toks, err := c.promptLogprobTokens(ctx, probeText); err == nil && len(toks) >= 2 {
		return PromptLogprobs, nil
	} else if err != nil && !isClientError(err) {
		return "", err
	}
	return "", fmt.Errorf("remote: %s: %w", c.base, ErrNoScoring)
}

// isClientError reports a 4xx reply other than rate limiting: the server
// refused the request's form (an unsupported field), not a transient fault.
func isClientError(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code/100 == 4 && se.Code != 429
}

// serverToken is one prompt token as the server scored it.
type serverToken struct {
	text    string
	logprob float64 // NaN when the server gives none (the first token)
	argmax  bool
}

// echoTokens scores text with echo=true, logprobs=1 and one new token (not
// 0: llama-cpp-python reads max_tokens 0 as "up to the context size"); the
// new token is dropped by the reply's usage count, or where there is none by
// its text offset.
func (c *Client) echoTokens(ctx context.Context, text string) ([]serverToken, error) {
	one := 1
	resp, err := c.Complete(ctx, CompletionRequest{Prompt: text, MaxTokens: 1, Echo: true, Logprobs: &one, Temperature: ptr(0.0)})
	if err != nil {
		return nil, err
	}
	lp := resp.Choices[0].Logprobs
	if lp == nil || len(lp.TokenLogprobs) == 0 {
		return nil, nil
	}
	n := len(lp.TokenLogprobs)
	if resp.Usage != nil && resp.Usage.CompletionTokens <= n && len(resp.Choices) == 1 {
		n -= resp.Usage.CompletionTokens
	} else {
		for n > 0 && n-1 < len(lp.TextOffset) && lp.TextOffset[n-1] >= len([]rune(text)) {
			n--
		}
	}
	out := make([]serverToken, n)
	for i := range n {
		t := serverToken{logprob: math.NaN()}
		if i < len(lp.Tokens) {
			t.text = lp.Tokens[i]
		}
		if p := lp.TokenLogprobs[i]; p != nil {
			t.logprob = *p
			t.argmax = true
			if i < len(lp.TopLogprobs) {
				for _, q := range lp.TopLogprobs[i] {
					if q > *p+1e-6 {
						t.argmax = false
					}
				}
			}
		}
		out[i] = t
	}
	return out, nil
}

// promptLogprobTokens scores text with vLLM's prompt_logprobs=1: each
// position holds the actual token (and the top one when they differ).
func (c *Client) promptLogprobTokens(ctx context.Context, text string) ([]serverToken, error) {
	one := 1
	resp, err := c.Complete(ctx, CompletionRequest{Prompt: text, MaxTokens: 1, PromptLogprobs: &one, Temperature: ptr(0.0)})
	if err != nil {
		return nil, err
	}
	pl := resp.Choices[0].PromptLogprobs
	out := make([]serverToken, 0, len(pl))
	for _, pos := range pl {
		t := serverToken{logprob: math.NaN()}
		if pos != nil {
			// The actual token is the entry that is not rank 1 when there
			// are two; with one entry it is the actual token and the argmax.
			var actual *PromptLogprob
			for _, e := range pos {
				e := e
				if len(pos) == 1 || e.Rank == nil || *e.Rank != 1 {
					actual = &e
				}
			}
			if actual == nil {
				return nil, fmt.Errorf("prompt_logprobs entry without the prompt token: %v", pos)
			}
			t.text, t.logprob = actual.DecodedToken, actual.Logprob
			t.argmax = len(pos) == 1 || (actual.Rank != nil && *actual.Rank == 1)
		}
		out = append(out, t)
	}
	// Like echo, the first prompt token (BOS) may be listed: callers align
	// by count.
	return out, nil
}

func ptr[T any](v T) *T { return &v }

// Scorer scores rows on a server, for eval.EvalSteer and eval.EvalDist.
// The replies' text_offset fields are not used: llama-cpp-python counts them
// over its text with special tokens left out, vLLM over the prompt text, so
// they do not map onto our text the same way. Our tokens are turned
// back into text (the GGUF's tokenizer gives each token's text), the server
// tokenizes and scores that text, and its tokens are matched with ours: one
// to one when the server tokenized the text into the same tokens (then the
// scores equal local scoring up to numerical noise), otherwise through the
// byte spans of the text, each server token counting for the output whose
// span holds its last byte (a token that straddles a segment boundary,
// which our segment-wise tokenization never makes, then scores a slightly
// different event). Calibration points are not collected.
type Scorer struct {
	Client *Client
	Tok    format.Tokenizer
	Method ScoringMethod
	// Concurrency is the number of requests in flight (default 4).
	Concurrency int

	mu sync.Mutex
	// Realigned counts rows whose server tokenization differed from ours.
	Realigned int
	// Tokens counts the prompt tokens the server scored.
	Tokens int
	text   detokenizer
}

// TokenCount returns Tokens (safe while Score runs).
func (s *Scorer) TokenCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Tokens
}

// detect sets Method from the server when it is not set.
func (s *Scorer) detect(ctx context.Context) error {
	if s.Method != "" {
		return nil
	}
	m, err := s.Client.DetectScoring(ctx)
	s.Method = m
	return err
}

// Calibrated is false: remote scores carry no calibration points.
func (s *Scorer) Calibrated() bool { return false }

// Score scores rows concurrently; progress is called with the rows done.
func (s *Scorer) Score(ctx context.Context, rows []format.Tokens, progress func(done int)) ([]eval.RowScore, error) {
	if err := s.detect(ctx); err != nil {
		return nil, err
	}
	conc := s.Concurrency
	if conc <= 0 {
		conc = 4
	}
	out := make([]eval.RowScore, len(rows))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	next, done := 0, 0
	var mu sync.Mutex
	for range min(conc, len(rows)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(rows) || ctx.Err() != nil {
					return
				}
				rs, err := s.scoreRow(ctx, &rows[i])
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("row %d: %w", i+1, err); cancel() })
					return
				}
				out[i] = rs
				mu.Lock()
				done++
				if progress != nil {
					progress(done)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// detokenizer turns our tokens back into the text a server gets.
type detokenizer struct {
	once     sync.Once
	spacePre bool
}

// spacePrefix reports whether the tokenizer adds a space before the text
// (SentencePiece's add_space_prefix): the first token's text then starts
// with a space that is not part of the prompt.
func (d *detokenizer) spacePrefix(tok format.Tokenizer) bool {
	d.once.Do(func() {
		ids, err := tok.Tokenize("a", false, false)
		d.spacePre = err == nil && len(ids) > 0 && strings.HasPrefix(tok.TokenToPiece(ids[0]), " ")
	})
	return d.spacePre
}

// pieces returns the text of ids (a leading BOS the tokenizer adds is
// left out: servers add their own) and each token's end byte in it.
func (d *detokenizer) pieces(tok format.Tokenizer, ids []int32) (string, []int) {
	var b strings.Builder
	ends := make([]int, len(ids))
	for i, id := range ids {
		p := tok.TokenToPiece(id)
		if i == 0 && d.spacePrefix(tok) {
			p = strings.TrimPrefix(p, " ")
		}
		b.WriteString(p)
		ends[i] = b.Len()
	}
	return b.String(), ends
}

func (s *Scorer) scoreRow(ctx context.Context, row *format.Tokens) (eval.RowScore, error) {
	ids, loss, ex := row.IDs, row.Loss, row.ExampleIndex
	// The server adds its own BOS; trailing unlabelled tokens score nothing.
	start := 0
	if len(ids) > 0 && s.Tok.AddBOS() && ids[0] == s.Tok.BOS() {
		start = 1
	}
	end := len(ids)
	for end > start && !loss[end-1] {
		end--
	}
	ids, loss, ex = ids[start:end], loss[start:end], ex[start:end]
	if len(ids) == 0 {
		return eval.RowScore{Tokens: row.Len()}, nil
	}
	text, ends := s.text.pieces(s.Tok, ids)
	st, err := s.serverTokens(ctx, text)
	if err != nil {
		return eval.RowScore{}, err
	}
	// A listed leading BOS (a token with no text and no log-probability
	// before the prompt's first token) is dropped.
	want := len(ids)
	if len(st) == want+1 && math.IsNaN(st[0].logprob) && (st[0].text == "" || st[0].text == s.Tok.TokenToPiece(s.Tok.BOS())) {
		st = st[1:]
	}
	s.mu.Lock()
	s.Tokens += len(st)
	s.mu.Unlock()
	var scores []eval.TokenScore
	if len(st) == want {
		for i := range ids {
			if loss[i] {
				if math.IsNaN(st[i].logprob) {
					return eval.RowScore{}, fmt.Errorf("the server gave no log-probability for labelled token %d", i)
				}
				scores = append(scores, eval.TokenScore{Example: ex[i], LogProb: st[i].logprob, Argmax: st[i].argmax})
			}
		}
		return eval.RowScoreOf(row.Len(), scores), nil
	}
	// Different tokenization: the GGUF's tokenizer on the whole text gives
	// the server's tokens and their byte spans.
	whole, err := s.Tok.Tokenize(text, false, true)
	if err != nil {
		return eval.RowScore{}, err
	}
	if len(whole) != len(st) {
		return eval.RowScore{}, fmt.Errorf("the server returned %d prompt tokens, the model's tokenizer gives %d (%d segment-wise): is the server serving the same model as the GGUF?", len(st), len(whole), want)
	}
	s.mu.Lock()
	s.Realigned++
	s.mu.Unlock()
	_, wends := s.text.pieces(s.Tok, whole)
	j := 0
	for i, we := range wends {
		last := we - 1
		for j < len(ends) && ends[j] <= last {
			j++
		}
		if j >= len(ends) || !loss[j] || math.IsNaN(st[i].logprob) {
			continue
		}
		scores = append(scores, eval.TokenScore{Example: ex[j], LogProb: st[i].logprob, Argmax: st[i].argmax})
	}
	return eval.RowScoreOf(row.Len(), scores), nil
}

// serverTokens has the server score text with the scorer's method.
func (s *Scorer) serverTokens(ctx context.Context, text string) ([]serverToken, error) {
	if s.Method == PromptLogprobs {
		return s.Client.promptLogprobTokens(ctx, text)
	}
	return s.Client.echoTokens(ctx, text)
}

// CandidateLogProbs is eval.Scorer.CandidateLogProbs on the server: the
// joint text prompt+prefix+candidate+end is scored with echo, and the
// candidate's log-probability is the sum over the tokens after the prompt's
// tokens (the prompt tokenized alone by the GGUF's tokenizer, as the local
// scorer does). Candidates go out concurrently.
func (s *Scorer) CandidateLogProbs(ctx context.Context, prompt, prefix string, cands []string, end string) ([]float64, error) {
	if err := s.detect(ctx); err != nil {
		return nil, err
	}
	prompt = strings.ReplaceAll(prompt, "<bos>", "")
	p, err := s.Tok.Tokenize(prompt, false, true)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("remote: empty prompt")
	}
	out := make([]float64, len(cands))
	errs := make([]error, len(cands))
	sem := make(chan struct{}, max(s.Concurrency, 1))
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			text := prompt + prefix + c + end
			st, err := s.serverTokens(ctx, text)
			if err != nil {
				errs[i] = err
				return
			}
			joint, err := s.Tok.Tokenize(text, false, true)
			if err != nil {
				errs[i] = err
				return
			}
			if len(st) == len(joint)+1 && math.IsNaN(st[0].logprob) {
				st = st[1:]
			}
			if len(st) != len(joint) {
				errs[i] = fmt.Errorf("the server returned %d tokens for candidate %q, the model's tokenizer gives %d: is the server serving the same model as the GGUF?", len(st), c, len(joint))
				return
			}
			sum := 0.0
			for _, t := range st[len(p):] {
				sum += t.logprob
			}
			s.mu.Lock()
			s.Tokens += len(st)
			s.mu.Unlock()
			out[i] = sum
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PromptText is the text a server gets for our prompt tokens: each token's
// text, without a leading BOS the tokenizer adds (servers add their own) or
// the space SentencePiece puts before the first word.
func PromptText(tok format.Tokenizer, ids []int32) string {
	if len(ids) > 0 && tok.AddBOS() && ids[0] == tok.BOS() {
		ids = ids[1:]
	}
	var d detokenizer
	text, _ := d.pieces(tok, ids)
	return text
}
