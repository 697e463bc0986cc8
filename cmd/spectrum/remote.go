package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/spectrumkit/spectrum/remote"
	"github.com/spectrumkit/spectrum/sample"
)

// remoteOptions are the flags that send sampling or scoring to an
// OpenAI-compatible server.
type remoteOptions struct {
	server, apiKey, model string
	concurrency, retries  int
}

func addRemoteFlags(f *pflag.FlagSet, o *remoteOptions) {
	f.StringVar(&o.server, "server", "", "run on this OpenAI-compatible server (vLLM, llama-server, llama-cpp-python) instead of locally; MODEL.gguf then only gives the tokenizer and format")
	f.StringVar(&o.apiKey, "api-key", "", "API key for --server (default: $"+remote.APIKeyEnv+", then $OPENAI_API_KEY)")
	f.StringVar(&o.model, "model", "", "model name on --server (default: the only one it serves)")
	f.IntVar(&o.concurrency, "concurrency", 8, "requests in flight with --server")
	f.IntVar(&o.retries, "retries", 5, "retries of a failed request (429, 5xx, dropped connections, cut-off replies) with --server")
}

func (o *remoteOptions) enabled() bool { return o.server != "" }

// client checks the flags, connects and finds the model name.
func (o *remoteOptions) client(ctx context.Context, g *globalOptions) (*remote.Client, error) {
	if o.concurrency < 1 {
		return nil, fmt.Errorf("--concurrency must be ≥ 1, got %d", o.concurrency)
	}
	if o.retries < 0 {
		return nil, fmt.Errorf("--retries must be ≥ 0, got %d", o.retries)
	}
	c, err := remote.New(o.server, o.apiKey, o.model)
	if err != nil {
		return nil, err
	}
	c.Retries = o.retries
	c.Logf = g.logf
	if c.Model == "" {
		// A wrong URL should fail fast: one retry for the first contact.
		c.Retries = min(o.retries, 1)
		ids, err := c.Models(ctx)
		c.Retries = o.retries
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w (is the server running? name the model with --model if it has no /v1/models)", err)
		case len(ids) == 1:
			c.Model = ids[0]
		case len(ids) > 1:
			return nil, fmt.Errorf("%s serves %d models (%s): choose one with --model", c.URL(), len(ids), strings.Join(ids, ", "))
		}
	}
	g.logf("server: %s, model %q, %d requests in flight", c.URL(), c.Model, o.concurrency)
	return c, nil
}

// sampleFile is a JSONL file of completions that a run appends to and a
// re-run resumes from: the completions already in it are not drawn again.
type sampleFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
	enc  *json.Encoder
	have map[[2]int]bool // (row, index)
}

// openSampleFile reads the completions already in path (a cut-off last
// line, left by a killed run, is removed) and opens it for appending.
func openSampleFile(path string, inputs []string) (*sampleFile, error) {
	for _, in := range inputs {
		if in != "" && sameFile(path, in) {
			return nil, fmt.Errorf("refusing to write completions into input file %s (choose another -o)", in)
		}
	}
	sf := &sampleFile{path: path, have: map[[2]int]bool{}}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	keep := len(data)
	for off, line := 0, 1; off < len(data); line++ {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			// No newline: a record cut off mid-write; it is dropped.
			keep = off
			break
		}
		rec := bytes.TrimSpace(data[off : off+nl])
		if len(rec) > 0 {
			var c sample.Completion
			if err := json.Unmarshal(rec, &c); err != nil {
				return nil, fmt.Errorf("%s:%d: not a completion record (%v); -o resumes only files this command wrote", path, line, err)
			}
			sf.have[[2]int{c.Row, c.Index}] = true
		}
		off += nl + 1
	}
	if keep < len(data) {
		if err := os.Truncate(path, int64(keep)); err != nil {
			return nil, err
		}
	}
	if sf.f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	sf.w = bufio.NewWriter(sf.f)
	sf.enc = json.NewEncoder(sf.w)
	sf.enc.SetEscapeHTML(false)
	return sf, nil
}

func sameFile(a, b string) bool {
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(ai, bi)
}

// Has reports whether the completion (row, index) is in the file.
func (s *sampleFile) Has(row, index int) bool { return s.have[[2]int{row, index}] }

// Done counts the completions of row in the file.
func (s *sampleFile) Done(row, n int) int {
	k := 0
	for i := range n {
		if s.Has(row, i) {
			k++
		}
	}
	return k
}

// Add appends a completion and syncs it to the file, so a killed run keeps
// it.
func (s *sampleFile) Add(c sample.Completion) error {
	if s.Has(c.Row, c.Index) {
		return nil
	}
	s.have[[2]int{c.Row, c.Index}] = true
	if err := s.enc.Encode(c); err != nil {
		return err
	}
	return s.w.Flush()
}

func (s *sampleFile) Close() error {
	if s == nil || s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}
