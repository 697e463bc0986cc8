package sample

import (
	"fmt"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/llama"
)

// Prompt is one prompt to sample from: a row's tokens and its task.
type Prompt struct {
	Row    int
	Task   string
	Tokens []llama.Token
}

// Stop is where completions of a format end: its end string as a control
// token where the vocabulary has it as one (matched by id), else as text.
type Stop struct {
	Strings []string
	Tokens  []llama.Token
}

// FormatPrompts renders each row's messages in format f with the
// generation prompt open, tokenizes them as training and scoring do, and
// returns the prompts (tasks[i] names row i; tasks may be nil) and the
// format's stop.
func FormatPrompts(m *llama.Model, f format.Format, rows [][]format.Message, tasks []string) ([]Prompt, Stop, error) {
	var out []Prompt
	for i, msgs := range rows {
		segs, err := f.Render(msgs, true)
		if err != nil {
			return nil, Stop{}, fmt.Errorf("row %d: %w", i+1, err)
		}
		tk, err := format.TokenizePrompt(m, segs)
		if err != nil {
			return nil, Stop{}, fmt.Errorf("row %d: %w", i+1, err)
		}
		p := Prompt{Row: i, Tokens: tk.IDs}
		if i < len(tasks) {
			p.Task = tasks[i]
		}
		out = append(out, p)
	}
	var st Stop
	if s := f.StopString(); s != "" {
		if id, ok := m.TokenID(s); ok && m.IsControl(id) {
			st.Tokens = append(st.Tokens, id)
		} else {
			st.Strings = append(st.Strings, s)
		}
	}
	return out, st, nil
}
