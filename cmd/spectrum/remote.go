package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/spectrumkit/spectrum/remote"
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
	f.StringVar(&o.model, "server-model", "", "model name on --server (default: the only one it serves)")
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
			return nil, fmt.Errorf("%w (is the server running? name the model with --server-model if it has no /v1/models)", err)
		case len(ids) == 1:
			c.Model = ids[0]
		case len(ids) > 1:
			return nil, fmt.Errorf("%s serves %d models (%s): choose one with --server-model", c.URL(), len(ids), strings.Join(ids, ", "))
		}
	}
	g.logf("server: %s, model %q, %d requests in flight", c.URL(), c.Model, o.concurrency)
	return c, nil
}
