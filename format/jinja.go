package format

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ardanlabs/jinja"
)

// compiled caches compiled chat templates by their text.
var compiled sync.Map // string → *jinja.Template

// RenderChatTemplate renders a conversation with a Jinja chat template as
// transformers' apply_chat_template(tokenize=False) does: the template gets
// messages (role, content), add_generation_prompt, tok's BOS and EOS texts
// as bos_token and eos_token, and enable_thinking=false only where the
// template reads it (Qwen3's, whose thinking the reference turns off).
// Templates are compiled once; it is safe for concurrent use.
func RenderChatTemplate(tok Tokenizer, tmpl string, msgs []ChatMessage, addGenerationPrompt bool) (string, error) {
	var t *jinja.Template
	if v, ok := compiled.Load(tmpl); ok {
		t = v.(*jinja.Template)
	} else {
		var err error
		if t, err = jinja.Compile(tmpl); err != nil {
			return "", fmt.Errorf("jinja: %w", err)
		}
		compiled.Store(tmpl, t)
	}
	ms := make([]any, len(msgs))
	for i, m := range msgs {
		ms[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := map[string]any{"messages": ms, "add_generation_prompt": addGenerationPrompt, "bos_token": "", "eos_token": ""}
	if b := tok.BOS(); b >= 0 {
		data["bos_token"] = tok.TokenToPiece(b)
	}
	if e := tok.EOS(); e >= 0 {
		data["eos_token"] = tok.TokenToPiece(e)
	}
	if strings.Contains(tmpl, "enable_thinking") {
		data["enable_thinking"] = false
	}
	out, err := t.Render(data)
	if err != nil {
		return "", fmt.Errorf("jinja: %w", err)
	}
	return out, nil
}

// jinjaApply is the chat format's TemplateFunc for a model's own template:
// RenderChatTemplate without a leading BOS text when the tokenizer adds a
// BOS itself, so a row never starts with two (the reference writes two for
// Llama-3.1 chat, whose template starts with <|begin_of_text|>).
func jinjaApply(tok Tokenizer) TemplateFunc {
	return func(tmpl string, msgs []ChatMessage, addAssistant bool) (string, error) {
		out, err := RenderChatTemplate(tok, tmpl, msgs, addAssistant)
		if err != nil {
			return "", err
		}
		if b := tok.BOS(); b >= 0 && tok.AddBOS() {
			out = strings.TrimPrefix(out, tok.TokenToPiece(b))
		}
		return out, nil
	}
}

// systemProbe is the system text rendered to see whether a template keeps
// system messages.
const systemProbe = "Spectrum system probe"

// errDropsSystem: the chat format puts the description and the first
// examples in the system message, which some templates (Phi-3's) discard.
var errDropsSystem = errors.New("the template drops system messages, which hold the chat format's description and examples")

// keepsSystem checks that a template renders a system message's text.
func keepsSystem(apply TemplateFunc, tmpl string) error {
	out, err := apply(tmpl, []ChatMessage{{Role: ChatSystem, Content: systemProbe}, {Role: ChatUser, Content: "U"}}, true)
	if err != nil {
		return err
	}
	if !strings.Contains(out, systemProbe) {
		return errDropsSystem
	}
	return nil
}

// ChatRenderer returns how a conversation is rendered with model m's own
// chat template, for chatting with it: Jinja as apply_chat_template does
// (without a leading BOS text when the tokenizer adds one), or llama.cpp's
// renderer when Jinja cannot compile or run the template; the second value
// names it (RendererJinja or RendererLlama). A model without a template is
// an error.
func ChatRenderer(m Model) (TemplateFunc, string, error) {
	tmpl := m.ChatTemplate()
	if tmpl == "" {
		return nil, "", errors.New("format: the model has no chat template")
	}
	probe := []ChatMessage{{Role: ChatSystem, Content: "S"}, {Role: ChatUser, Content: "U"}}
	apply := jinjaApply(m)
	if _, err := apply(tmpl, probe, true); err == nil {
		return apply, RendererJinja, nil
	}
	if _, err := llamaApplyTemplate(tmpl, probe, true); err != nil {
		return nil, "", fmt.Errorf("format: chat template: neither Jinja nor llama.cpp renders it: %w", err)
	}
	return llamaApplyTemplate, RendererLlama, nil
}
