// Package remote talks to OpenAI-compatible completion servers (vLLM,
// SGLang, llama.cpp's llama-server, llama-cpp-python's server) so that
// sampling and evaluation can run on a serving engine instead of this
// machine: requests go out concurrently from a bounded pool, are retried
// with backoff on 429/5xx, connection resets and truncated replies, and
// scoring aligns the server's token offsets with our loss spans.
//
// A Client is safe for concurrent use.
package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// APIKeyEnv is the environment variable read when no API key is given.
const APIKeyEnv = "SPECTRUM_API_KEY"

// Client is a connection to one server.
type Client struct {
	base   string // …/v1
	APIKey string
	// Model is the served model's name (the "model" field of requests);
	// Probe fills it from /v1/models when empty.
	Model string
	HTTP  *http.Client
	// Retries is how many times a failed request is retried (default 5).
	Retries int
	// Backoff is the first wait before a retry (default 500 ms); it doubles
	// per attempt up to MaxBackoff (default 20 s), with jitter, and a
	// Retry-After header is honoured.
	Backoff, MaxBackoff time.Duration
	// Logf, if set, reports retries.
	Logf func(format string, args ...any)
}

// New checks the server URL and returns a client. base may end in /v1 or
// not ("http://127.0.0.1:8000" and "http://127.0.0.1:8000/v1" are the same);
// an empty apiKey takes $SPECTRUM_API_KEY, then $OPENAI_API_KEY.
func New(base, apiKey, model string) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http(s) URL such as http://127.0.0.1:8000", base)
	}
	p := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(p, "/v1") {
		p += "/v1"
	}
	u.Path = p
	if apiKey == "" {
		apiKey = os.Getenv(APIKeyEnv)
	}
	if apiKey == "" {
		apiKey = os.Getenv("OPENAI_API_KEY")
	}
	return &Client{base: u.String(), APIKey: apiKey, Model: model, HTTP: &http.Client{Timeout: 10 * time.Minute}, Retries: 5,
		Backoff: 500 * time.Millisecond, MaxBackoff: 20 * time.Second}, nil
}

// URL returns the server's API base (…/v1).
func (c *Client) URL() string { return c.base }

// StatusError is a reply with an HTTP error status.
type StatusError struct {
	Code       int
	Body       string
	retryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := strings.TrimSpace(e.Body)
	var j struct {
		Error any `json:"error"`
	}
	if json.Unmarshal([]byte(e.Body), &j) == nil && j.Error != nil {
		switch x := j.Error.(type) {
		case string:
			msg = x
		case map[string]any:
			if m, ok := x["message"].(string); ok {
				msg = m
			}
		}
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Code, http.StatusText(e.Code), msg)
}

// retryable reports whether err may go away on a retry: rate limits,
// server errors, timeouts, connection failures and cut-off replies.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Code {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var be *badReplyError
	if errors.As(err, &be) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// badReplyError is a 200 reply that is not the JSON we expect (cut off by a
// dropped connection, or garbage from a proxy).
type badReplyError struct{ err error }

func (e *badReplyError) Error() string { return "malformed reply: " + e.err.Error() }
func (e *badReplyError) Unwrap() error { return e.err }

// do sends one request (with retries) and decodes the JSON reply into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	var last error
	for attempt := 0; ; attempt++ {
		last = c.once(ctx, method, path, payload, out)
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !retryable(last) {
			return fmt.Errorf("remote: %s %s%s: %w", method, c.base, path, last)
		}
		if attempt >= c.Retries {
			return fmt.Errorf("remote: %s %s%s: gave up after %d attempts: %w", method, c.base, path, attempt+1, last)
		}
		wait := c.Backoff << attempt
		if c.MaxBackoff > 0 && (wait > c.MaxBackoff || wait <= 0) {
			wait = c.MaxBackoff
		}
		wait = wait/2 + time.Duration(rand.Int64N(int64(wait/2)+1))
		var se *StatusError
		if errors.As(last, &se) && se.retryAfter > 0 {
			wait = max(wait, se.retryAfter)
		}
		if c.Logf != nil {
			c.Logf("remote: %s %s: %v; retry %d/%d in %v", method, path, last, attempt+1, c.Retries, wait.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (c *Client) once(ctx context.Context, method, path string, payload []byte, out any) error {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		se := &StatusError{Code: resp.StatusCode, Body: string(data)}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			se.retryAfter = time.Duration(s) * time.Second
		}
		return se
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &badReplyError{err}
	}
	return nil
}

// CompletionRequest is a /v1/completions request. Pointer fields are left
// out when nil, so that servers keep their defaults.
type CompletionRequest struct {
	Model       string   `json:"model,omitempty"`
	Prompt      string   `json:"prompt"`
	MaxTokens   int      `json:"max_tokens"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	TopK        *int     `json:"top_k,omitempty"`
	MinP        *float64 `json:"min_p,omitempty"`
	N           int      `json:"n,omitempty"`
	Stop        []string `json:"stop,omitempty"`
	Seed        *uint64  `json:"seed,omitempty"`
	Echo        bool     `json:"echo,omitempty"`
	Logprobs    *int     `json:"logprobs,omitempty"`
	// PromptLogprobs is vLLM's extension: log-probabilities of the prompt's
	// tokens (0: only the actual token's).
	PromptLogprobs *int `json:"prompt_logprobs,omitempty"`
}

// CompletionResponse is the part of a /v1/completions reply we read.
type CompletionResponse struct {
	Choices []Choice `json:"choices"`
	Usage   *Usage   `json:"usage"`
}

// Usage is the token accounting of a reply.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Choice is one completion.
type Choice struct {
	Index        int       `json:"index"`
	Text         string    `json:"text"`
	FinishReason string    `json:"finish_reason"`
	Logprobs     *Logprobs `json:"logprobs"`
	// PromptLogprobs (vLLM): per prompt position, null or {token id:
	// {logprob, rank, decoded_token}}.
	PromptLogprobs []map[string]PromptLogprob `json:"prompt_logprobs"`
}

// Logprobs is the legacy completions logprobs object.
type Logprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []*float64           `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// PromptLogprob is one entry of vLLM's prompt_logprobs.
type PromptLogprob struct {
	Logprob      float64 `json:"logprob"`
	Rank         *int    `json:"rank"`
	DecodedToken string  `json:"decoded_token"`
}

// Complete sends one completion request (the client's model is filled in).
func (c *Client) Complete(ctx context.Context, req CompletionRequest) (*CompletionResponse, error) {
	if req.Model == "" {
		req.Model = c.Model
	}
	var resp CompletionResponse
	if err := c.do(ctx, http.MethodPost, "/completions", req, &resp); err != nil {
		return nil, err
	}
	if len(resp.Choices) == 0 {
		return nil, fmt.Errorf("remote: %s/completions: reply without choices", c.base)
	}
	return &resp, nil
}

// Models lists the served model names (/v1/models).
func (c *Client) Models(ctx context.Context) ([]string, error) {
	var resp struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := c.do(ctx, http.MethodGet, "/models", nil, &resp); err != nil {
		return nil, err
	}
	var ids []string
	for _, d := range resp.Data {
		ids = append(ids, d.ID)
	}
	return ids, nil
}
