// Package chat holds an interactive session with a local model: a
// conversation rendered through the model's own chat template (llama.cpp's
// built-in renderer, as the chat format uses it) with streamed replies, and
// beside it a steerable mode that builds a distribution from a description
// and example outputs and samples it in the Spectrum format.
//
// A Session is not safe for concurrent use.
package chat

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/sample"
)

// ErrNoTemplate is returned by New for a model without a chat template (a
// base model): it has no conversation format to follow.
var ErrNoTemplate = errors.New("chat: the model has no chat template")

// Options configure a Session.
type Options struct {
	Threads   int                  // CPU threads (0: llama.DefaultThreads)
	Adapters  []sample.AdapterSpec // LoRA adapters with their scales
	MaxTokens int                  // most tokens per reply (0: 512)
	NCtx      int                  // context size (0: the model's, at most 4096)
	Sampler   llama.SamplerParams  // how replies are sampled
	System    string               // a system message to start with ("": none)
}

// Session is one conversation and one steerable distribution.
type Session struct {
	m        *llama.Model
	o        Options
	tmpl     string
	render   format.TemplateFunc // the template's renderer (format.ChatRenderer)
	stop     string
	family   models.Family
	ctx      *llama.Context
	adapters []*llama.Adapter
	system   string
	turns    []llama.ChatMessage

	// steerable mode
	description string
	examples    []string
}

// New starts a session with model m (loaded with its weights). It fails
// with ErrNoTemplate (wrapped, naming the model) when m has no chat
// template, and when llama.cpp does not recognise the template.
func New(m *llama.Model, o Options) (*Session, error) {
	tmpl := m.ChatTemplate()
	if tmpl == "" {
		return nil, fmt.Errorf("%w: %s is a base model; use `spectrum generate` for text, or the steerable mode of `spectrum sample` (--description, --example) for a distribution", ErrNoTemplate, m.Path())
	}
	render, _, err := format.ChatRenderer(m)
	if err != nil {
		return nil, fmt.Errorf("chat: %s: %w", m.Path(), err)
	}
	info, err := models.ReadInfo(m.Path())
	if err != nil {
		return nil, err
	}
	s := &Session{m: m, o: o, tmpl: tmpl, render: render, system: o.System, family: info.Family}
	if f, err := format.NewChat(format.FamilyNone, tmpl); err == nil {
		s.stop = f.StopString() // the end of an assistant turn, where it is text
	}
	if s.o.MaxTokens == 0 {
		s.o.MaxTokens = 512
	}
	nctx := o.NCtx
	if nctx == 0 {
		nctx = min(m.NCtxTrain(), 4096)
	}
	ctx, err := llama.NewContext(m, llama.ContextParams{NCtx: nctx, NBatch: 512, Threads: o.Threads,
		FlashAttention: sample.DefaultFlashAttention(m, ""), KVType: sample.DefaultKVType(m), LoRA: len(o.Adapters) > 0})
	if err != nil {
		return nil, err
	}
	s.ctx = ctx
	if s.adapters, err = sample.LoadAdapters(m, o.Adapters); err != nil {
		s.Close()
		return nil, err
	}
	if err := sample.AttachAdapters(ctx, s.adapters, o.Adapters); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close frees the session's context and adapters.
func (s *Session) Close() error {
	if s.ctx != nil {
		s.ctx.Close()
		s.ctx = nil
	}
	for _, a := range s.adapters {
		a.Close()
	}
	s.adapters = nil
	return nil
}

// Reset forgets the conversation (the system message stays).
func (s *Session) Reset() { s.turns = nil }

// SetSystem sets the system message ("" removes it) and resets the
// conversation.
func (s *Session) SetSystem(text string) {
	s.system = text
	s.turns = nil
}

// Turns returns the conversation so far (without the system message).
func (s *Session) Turns() []llama.ChatMessage { return append([]llama.ChatMessage(nil), s.turns...) }

// Prompt renders the conversation with msg as the next user message, as
// the model will read it.
func (s *Session) Prompt(msg string) (string, error) {
	var msgs []llama.ChatMessage
	if s.system != "" {
		msgs = append(msgs, llama.ChatMessage{Role: "system", Content: s.system})
	}
	msgs = append(msgs, s.turns...)
	msgs = append(msgs, llama.ChatMessage{Role: "user", Content: msg})
	conv := make([]format.ChatMessage, len(msgs))
	for i, m := range msgs {
		conv[i] = format.ChatMessage{Role: m.Role, Content: m.Content}
	}
	return s.render(s.tmpl, conv, true)
}

// Send adds msg as the user's turn, generates the assistant's reply,
// calling emit with each piece as it comes, and returns the reply. The
// reply ends at an end-of-generation token, the template's end of turn, or
// MaxTokens. A cancelled ctx returns what was generated with ctx's error
// (the turn is then not kept).
func (s *Session) Send(ctx context.Context, msg string, emit func(piece string)) (string, error) {
	prompt, err := s.Prompt(msg)
	if err != nil {
		return "", err
	}
	toks, err := s.m.Tokenize(prompt, true, true)
	if err != nil {
		return "", err
	}
	if len(toks)+s.o.MaxTokens > s.ctx.NCtxSeq() {
		return "", fmt.Errorf("chat: the conversation (%d tokens) and a reply (%d) do not fit the context (%d): /reset starts afresh", len(toks), s.o.MaxTokens, s.ctx.NCtxSeq())
	}
	smp, err := llama.NewSampler(s.m, s.o.Sampler)
	if err != nil {
		return "", err
	}
	defer smp.Close()
	var reply strings.Builder
	printed := 0
	_, err = s.ctx.Generate(ctx, toks, llama.GenerateParams{MaxTokens: s.o.MaxTokens, Sampler: smp}, func(t llama.Token) bool {
		if s.m.IsControl(t) {
			return false // a turn or end marker the model's GGUF does not flag as end of generation
		}
		reply.WriteString(s.m.TokenToPiece(t))
		text := reply.String()
		if s.stop != "" {
			if i := strings.Index(text, s.stop); i >= 0 {
				emit(text[printed:max(i, printed)])
				printed = len(text)
				return false
			}
		}
		// Hold back what could be the start of the end string.
		hold := 0
		for k := min(len(s.stop)-1, len(text)-printed); k > 0; k-- {
			if strings.HasSuffix(text, s.stop[:k]) {
				hold = k
				break
			}
		}
		emit(text[printed : len(text)-hold])
		printed = len(text) - hold
		return true
	})
	text := reply.String()
	if i := strings.Index(text, s.stop); s.stop != "" && i >= 0 {
		text = text[:i]
	} else if printed < len(text) {
		emit(text[printed:])
	}
	text = strings.TrimSpace(text)
	if err != nil {
		return text, err
	}
	s.turns = append(s.turns, llama.ChatMessage{Role: "user", Content: msg}, llama.ChatMessage{Role: "assistant", Content: text})
	return text, nil
}

// SetDescription sets the steerable distribution's description ("": none).
func (s *Session) SetDescription(text string) { s.description = text }

// AddExample adds an example output of the steerable distribution.
func (s *Session) AddExample(text string) { s.examples = append(s.examples, text) }

// ClearSteer forgets the description and the examples.
func (s *Session) ClearSteer() { s.description, s.examples = "", nil }

// Steer returns the description and examples built up so far.
func (s *Session) Steer() (string, []string) {
	return s.description, append([]string(nil), s.examples...)
}

// Count is one distinct output of Sample and how often it came.
type Count struct {
	Text  string  `json:"text"`
	N     int     `json:"n"`
	Share float64 `json:"share"`
}

// Distribution is what Sample drew.
type Distribution struct {
	Format  string  `json:"format"`
	N       int     `json:"n"`
	Counts  []Count `json:"counts"` // most frequent first
	Entropy float64 `json:"entropy_nats"`
}

// Sample draws n outputs of the distribution that the description and the
// examples define, in the Spectrum format for the model's family (the colon
// format for a model without turn tokens), at temperature 1 with no
// truncation (the neutral sampling distribution measurements use), and
// counts the distinct outputs. progress, if set, is called after each draw.
func (s *Session) Sample(ctx context.Context, n int, seed uint64, progress func(done int)) (*Distribution, error) {
	if n < 1 {
		return nil, fmt.Errorf("chat: sample at least 1 output, got %d", n)
	}
	var msgs []format.Message
	if s.description != "" {
		msgs = append(msgs, format.Message{Role: format.RoleDescription, Content: s.description})
	}
	for _, e := range s.examples {
		msgs = append(msgs, format.Message{Role: format.RoleOutput, Content: e})
	}
	if len(msgs) == 0 {
		return nil, errors.New("chat: nothing to sample from: give /description TEXT and/or /example TEXT first")
	}
	f, err := format.ForModel(format.NameAuto, s.family, s.m)
	if err != nil {
		return nil, err
	}
	prompts, stop, err := sample.FormatPrompts(s.m, f, [][]format.Message{msgs}, nil)
	if err != nil {
		return nil, err
	}
	req := sample.Request{Prompt: prompts[0].Tokens, N: n, MaxTokens: 32, Temp: 1, TopP: 1, Seed: seed, FirstLine: true,
		Stop: stop.Strings, StopTokens: stop.Tokens}
	e, err := sample.NewEngine(s.m, sample.Options{Threads: s.o.Threads, Adapters: s.o.Adapters})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	counts := map[string]int{}
	done := 0
	if err := e.Run(ctx, &req, func(c sample.Completion) error {
		counts[c.Text]++
		if done++; progress != nil {
			progress(done)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	d := &Distribution{Format: format.Describe(f), N: n}
	for t, k := range counts {
		p := float64(k) / float64(n)
		d.Counts = append(d.Counts, Count{Text: t, N: k, Share: p})
		d.Entropy -= p * math.Log(p)
	}
	sort.Slice(d.Counts, func(i, j int) bool {
		if d.Counts[i].N != d.Counts[j].N {
			return d.Counts[i].N > d.Counts[j].N
		}
		return d.Counts[i].Text < d.Counts[j].Text
	})
	return d, nil
}
