package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/sample"
)

// fault is one scripted misbehaviour of the fake server.
type fault int

const (
	ok fault = iota
	rateLimited
	serverError
	truncated
	dropped
	slow
)

// fakeServer is an in-process OpenAI-compatible server whose first replies
// misbehave as scripted; reply builds a good reply.
type fakeServer struct {
	*httptest.Server
	mu      sync.Mutex
	faults  []fault
	every   int // with every > 0, every every-th request is dropped
	calls   atomic.Int64
	reqs    []CompletionRequest
	reply   func(req CompletionRequest) CompletionResponse
	noModel bool
}

func newFake(t *testing.T, reply func(CompletionRequest) CompletionResponse, faults ...fault) *fakeServer {
	f := &fakeServer{faults: faults, reply: reply}
	f.Server = httptest.NewServer(http.HandlerFunc(f.handle))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	n := f.calls.Add(1)
	if r.URL.Path == "/v1/models" {
		json.NewEncoder(w).Encode(map[string]any{"data": []map[string]string{{"id": "fake-model"}}})
		return
	}
	if r.URL.Path != "/v1/completions" {
		http.NotFound(w, r)
		return
	}
	var req CompletionRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error": {"message": "bad request body"}}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	fl := ok
	if len(f.faults) > 0 {
		fl, f.faults = f.faults[0], f.faults[1:]
	} else if f.every > 0 && n%int64(f.every) == 0 {
		fl = dropped
	}
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	switch fl {
	case rateLimited:
		w.Header().Set("Retry-After", "0")
		http.Error(w, `{"error": {"message": "rate limited"}}`, http.StatusTooManyRequests)
		return
	case serverError:
		http.Error(w, `{"error": "internal"}`, http.StatusInternalServerError)
		return
	case dropped:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case slow:
		time.Sleep(300 * time.Millisecond)
	}
	b, _ := json.Marshal(f.reply(req))
	if fl == truncated {
		b = b[:len(b)/2]
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func testClient(t *testing.T, url string) (*Client, *[]string) {
	c, err := New(url, "", "")
	if err != nil {
		t.Fatal(err)
	}
	c.Backoff, c.MaxBackoff = time.Millisecond, 5*time.Millisecond
	var logs []string
	var mu sync.Mutex
	c.Logf = func(f string, a ...any) { mu.Lock(); logs = append(logs, fmt.Sprintf(f, a...)); mu.Unlock() }
	return c, &logs
}

func textReply(req CompletionRequest) CompletionResponse {
	return CompletionResponse{Choices: []Choice{{Text: fmt.Sprintf("s%d\nmore", *req.Seed), FinishReason: "stop"}}}
}

// TestRetries: rate limits, server errors, a cut-off reply, a dropped
// connection and a reply slower than the client's timeout are all retried.
func TestRetries(t *testing.T) {
	f := newFake(t, textReply, rateLimited, serverError, truncated, dropped, slow)
	c, logs := testClient(t, f.URL)
	c.HTTP.Timeout = 100 * time.Millisecond
	seed := uint64(7)
	resp, err := c.Complete(context.Background(), CompletionRequest{Prompt: "x", MaxTokens: 4, Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Text != "s7\nmore" || len(*logs) != 5 {
		t.Errorf("reply %q after %d retries: %q", resp.Choices[0].Text, len(*logs), *logs)
	}
	for i, want := range []string{"HTTP 429", "HTTP 500", "malformed reply", "EOF", "Timeout"} {
		if i < len(*logs) && !strings.Contains((*logs)[i], want) {
			t.Errorf("retry %d logged %q, want it to mention %q", i+1, (*logs)[i], want)
		}
	}
}

// TestGiveUp: when retries run out the error says so and names the last
// failure; a request the server rejects (4xx) is not retried.
func TestGiveUp(t *testing.T) {
	f := newFake(t, textReply, serverError, serverError, serverError, serverError)
	c, _ := testClient(t, f.URL)
	c.Retries = 2
	_, err := c.Complete(context.Background(), CompletionRequest{Prompt: "x", MaxTokens: 1})
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts: HTTP 500 Internal Server Error: internal") {
		t.Errorf("err = %v", err)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error": {"message": "max_tokens must be at least 1"}}`, http.StatusBadRequest)
	}))
	defer bad.Close()
	c, logs := testClient(t, bad.URL)
	_, err = c.Complete(context.Background(), CompletionRequest{Prompt: "x"})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400 Bad Request: max_tokens must be at least 1") || len(*logs) != 0 {
		t.Errorf("err = %v after %d retries", err, len(*logs))
	}
	if _, err := New("localhost:8000", "", ""); err == nil {
		t.Error("a URL without scheme was accepted")
	}
}

// TestSample: every completion is drawn once, with its own seed, even when
// the server returns one choice per request and drops connections; a resumed
// run draws only what is missing.
func TestSample(t *testing.T) {
	f := newFake(t, textReply)
	f.every = 4
	c, _ := testClient(t, f.URL)
	jobs := []SampleJob{{Row: 0, Task: "a", Prompt: "p0", N: 20}, {Row: 1, Task: "b", Prompt: "p1", N: 20}}
	got := map[[2]int]string{}
	p := SampleParams{MaxTokens: 8, Temp: 1, TopP: 1, Seed: 3, FirstLine: true, Concurrency: 3, PerRequest: 8}
	err := c.Sample(context.Background(), jobs, p, func(cp sample.Completion) error {
		k := [2]int{cp.Row, cp.Index}
		if _, dup := got[k]; dup {
			t.Errorf("completion %v twice", k)
		}
		got[k] = cp.Text
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[string]bool{}
	for r := range 2 {
		for i := range 20 {
			text, ok := got[[2]int{r, i}]
			if !ok || !strings.HasPrefix(text, "s") || strings.Contains(text, "\n") {
				t.Fatalf("row %d index %d: %q", r, i, text)
			}
			seeds[text] = true
		}
	}
	if len(seeds) != 40 {
		t.Errorf("%d distinct seeds for 40 completions", len(seeds))
	}
	for _, req := range f.reqs {
		if len(req.Stop) != 1 || req.Stop[0] != "\n" || *req.Temperature != 1 || req.Model != "" {
			t.Fatalf("request %+v", req)
		}
	}
	// Resume: the even indices exist; only the odd ones are drawn, with the
	// seeds the first run used for them.
	jobs[0].Have = func(i int) bool { return i%2 == 0 }
	jobs = jobs[:1]
	again := map[int]string{}
	if err := c.Sample(context.Background(), jobs, p, func(cp sample.Completion) error { again[cp.Index] = cp.Text; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(again) != 10 {
		t.Fatalf("resumed run drew %d completions, want 10", len(again))
	}
	for i, text := range again {
		if i%2 == 0 || text != got[[2]int{0, i}] {
			t.Errorf("resumed index %d: %q (first run %q)", i, text, got[[2]int{0, i}])
		}
	}
}

// TestSampleFailsCleanly: retries run out mid-run: the completions drawn so
// far were delivered and the error names the row.
func TestSampleFailsCleanly(t *testing.T) {
	f := newFake(t, textReply)
	f.every = 1 // every request is dropped
	c, _ := testClient(t, f.URL)
	c.Retries = 1
	n := 0
	err := c.Sample(context.Background(), []SampleJob{{Row: 4, Prompt: "p", N: 3}}, SampleParams{MaxTokens: 2, Temp: 1}, func(sample.Completion) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), "row 4: remote: POST") || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Errorf("err = %v", err)
	}
}

// wordTok is a tokenizer stub: vocabulary of fixed strings, greedy longest
// match, no BOS; enough to check how server tokens map to our spans.
type wordTok struct{ vocab []string }

func (w wordTok) Tokenize(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	var out []int32
	for len(text) > 0 {
		best := -1
		for i, v := range w.vocab {
			if strings.HasPrefix(text, v) && (best < 0 || len(v) > len(w.vocab[best])) {
				best = i
			}
		}
		if best < 0 {
			return nil, fmt.Errorf("no token for %q", text)
		}
		out = append(out, int32(best))
		text = text[len(w.vocab[best]):]
	}
	return out, nil
}
func (w wordTok) TokenToPiece(t int32) string { return w.vocab[t] }
func (w wordTok) BOS() int32                  { return -1 }
func (w wordTok) EOS() int32                  { return -1 }
func (w wordTok) AddBOS() bool                { return false }

// echoReply scores text as a server would: its own (whole-text)
// tokenization, the first token without a log-probability, token i with
// log-probability −(i+1)/10, argmax for even i.
func echoReply(tok wordTok) func(CompletionRequest) CompletionResponse {
	return func(req CompletionRequest) CompletionResponse {
		tok := tok
		ids, err := tok.Tokenize(req.Prompt, false, true)
		if err != nil { // the probe text: any two tokens do
			tok = wordTok{vocab: []string{req.Prompt[:3], req.Prompt[3:]}}
			ids = []int32{0, 1}
		}
		lp := &Logprobs{}
		off := 0
		for i, id := range ids {
			lp.Tokens = append(lp.Tokens, tok.vocab[id])
			lp.TextOffset = append(lp.TextOffset, off)
			off += len(tok.vocab[id])
			if i == 0 {
				lp.TokenLogprobs = append(lp.TokenLogprobs, nil)
				lp.TopLogprobs = append(lp.TopLogprobs, nil)
				continue
			}
			v := -float64(i+1) / 10
			top := map[string]float64{tok.vocab[id]: v}
			if i%2 == 1 {
				top["other"] = v + 0.5
			}
			lp.TokenLogprobs = append(lp.TokenLogprobs, &v)
			lp.TopLogprobs = append(lp.TopLogprobs, top)
		}
		if !req.Echo || req.Logprobs == nil {
			lp = nil
		}
		return CompletionResponse{Choices: []Choice{{Text: "", Logprobs: lp}}}
	}
}

// TestScorerAlignment: hand-checked scores when the server tokenizes like us
// (one to one) and when it merges a prompt space into the output's first
// token (by spans).
func TestScorerAlignment(t *testing.T) {
	tok := wordTok{vocab: []string{"Output:", " ", "Heads", " Heads", "\n", "Tails"}}
	f := newFake(t, echoReply(tok))
	c, _ := testClient(t, f.URL)
	s := &Scorer{Client: c, Tok: tok, Concurrency: 2}
	rows := []format.Tokens{
		// "Output:" "\n" "Heads" "\n": the server's tokens are the same.
		{IDs: []int32{0, 4, 2, 4}, Loss: []bool{false, false, true, true}, ExampleIndex: []int{-1, -1, 0, 0}},
		// Segment-wise "Output:" " " | "Heads" "\n" | "Output:" " " | "Tails" "\n";
		// the server makes " Heads" of the space and the word.
		{IDs: []int32{0, 1, 2, 4, 0, 1, 5, 4}, Loss: []bool{false, false, true, true, false, false, true, true}, ExampleIndex: []int{-1, -1, 0, 0, -1, -1, 1, 1}},
	}
	res, err := s.Score(context.Background(), rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Method != Echo {
		t.Errorf("method %q", s.Method)
	}
	// Row 1: server tokens 2 ("Heads", −0.3, argmax) and 3 ("\n", −0.4, not).
	o := res[0].Outputs
	if len(o) != 1 || math.Abs(o[0].Loss-0.7) > 1e-12 || o[0].Tokens != 2 || o[0].FirstAcc != 1 || o[0].AllAcc != 0 || o[0].Acc != 0.5 {
		t.Errorf("row 1: %+v", o)
	}
	// Row 2: server tokens "Output:" " Heads" "\n" "Output:" " " "Tails" "\n":
	// " Heads" (i=1, −0.2) ends in output 0, "\n" (i=2, −0.3); output 1 is
	// "Tails" (i=5, −0.6) and "\n" (i=6, −0.7).
	o = res[1].Outputs
	if len(o) != 2 || math.Abs(o[0].Loss-0.5) > 1e-12 || o[0].Tokens != 2 || math.Abs(o[1].Loss-1.3) > 1e-12 || o[1].Tokens != 2 || s.Realigned != 1 {
		t.Errorf("row 2: %+v (realigned %d)", o, s.Realigned)
	}
	// Candidates: the joint text's tokens after the prompt's ("\n" of the
	// prefix included, as the local scorer): "\n" −0.2, word −0.3, "\n" −0.4.
	lp, err := s.CandidateLogProbs(context.Background(), "Output:", "\n", []string{"Heads", "Tails"}, "\n")
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(lp[0]-(-0.9)) > 1e-12 || math.Abs(lp[1]-(-0.9)) > 1e-12 {
		t.Errorf("candidate log-probabilities %v", lp)
	}
}

// TestDetectScoring: a server without prompt log-probabilities is named as
// such; one with only vLLM's prompt_logprobs is used through them.
func TestDetectScoring(t *testing.T) {
	none := newFake(t, func(CompletionRequest) CompletionResponse { return CompletionResponse{Choices: []Choice{{Text: "x"}}} })
	c, _ := testClient(t, none.URL)
	if _, err := c.DetectScoring(context.Background()); err == nil || !strings.Contains(err.Error(), "supports neither echo with logprobs nor vLLM's prompt_logprobs") {
		t.Errorf("err = %v", err)
	}
	rank1, rank2 := 1, 2
	vllm := newFake(t, func(req CompletionRequest) CompletionResponse {
		if req.PromptLogprobs == nil {
			return CompletionResponse{Choices: []Choice{{Text: "x"}}}
		}
		return CompletionResponse{Choices: []Choice{{Text: "x", PromptLogprobs: []map[string]PromptLogprob{
			nil,
			{"17": {Logprob: -0.5, Rank: &rank1, DecodedToken: " quick"}},
			{"18": {Logprob: -2, Rank: &rank2, DecodedToken: " brown"}, "3": {Logprob: -0.1, Rank: &rank1, DecodedToken: " red"}},
		}}}}
	})
	c, _ = testClient(t, vllm.URL)
	m, err := c.DetectScoring(context.Background())
	if err != nil || m != PromptLogprobs {
		t.Fatalf("method %q, err %v", m, err)
	}
	toks, err := c.promptLogprobTokens(context.Background(), "x")
	if err != nil || len(toks) != 3 || toks[1].logprob != -0.5 || !toks[1].argmax || toks[2].logprob != -2 || toks[2].argmax || toks[2].text != " brown" {
		t.Errorf("tokens %+v, err %v", toks, err)
	}
}
