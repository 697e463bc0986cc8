package format

import (
	"errors"
	"fmt"
)

// Model is what ForModel needs from a loaded model (vocab-only is enough);
// *llama.Model satisfies it.
type Model interface {
	Tokenizer
	// ChatTemplate returns the model's chat template ("" when it has none).
	ChatTemplate() string
}

// MissingTokenError reports a special token a format needs that the model's
// vocabulary lacks (or does not hold as a single special token).
type MissingTokenError struct {
	Format string
	Family Family
	Token  string
}

func (e *MissingTokenError) Error() string {
	return fmt.Sprintf("format: the %s format (%s) needs %q as a single special token, which the model's vocabulary lacks", e.Format, e.Family, e.Token)
}

// MissingTokens returns those of the texts that are not a single token of
// the vocabulary with special-token parsing.
func MissingTokens(tok Tokenizer, texts []string) []string {
	var missing []string
	for _, s := range texts {
		if _, ok := singleToken(tok, s); !ok {
			missing = append(missing, s)
		}
	}
	return missing
}

// ForModel returns the named format for a model of the given family:
//
//   - "spectrum": the family's Spectrum format; the model must hold the
//     family's turn tokens (e.g. <start_of_turn>, <end_of_turn>) as single
//     special tokens, else a *MissingTokenError names the first missing one;
//   - "colon": the colon format (any model);
//   - "chat": the reference's chat conversion rendered with the model's own
//     chat template by Jinja, as apply_chat_template does (llama.cpp's
//     renderer when Jinja cannot run it or it drops system messages; the
//     family's llama.cpp built-in template when the model has none); the
//     template's tokens must be single special tokens;
//   - "auto": "spectrum" when the family has a Spectrum variant and the model
//     has its turn tokens, "colon" otherwise. The returned Format's Name
//     tells which was chosen.
func ForModel(name string, family Family, m Model) (Format, error) {
	if m == nil {
		return nil, errors.New("format: no model")
	}
	switch name {
	case NameAuto:
		if s, err := NewSpectrum(family); err == nil && len(MissingTokens(m, s.RequiredTokens())) == 0 {
			return s, nil
		}
		return NewColon(), nil
	case NameSpectrum:
		s, err := NewSpectrum(family)
		if err != nil {
			return nil, err
		}
		if miss := MissingTokens(m, s.RequiredTokens()); len(miss) > 0 {
			return nil, &MissingTokenError{Format: NameSpectrum, Family: family, Token: miss[0]}
		}
		return s, nil
	case NameColon:
		return NewColon(), nil
	case NameChat:
		c, err := chatForModel(family, m)
		if err != nil {
			return nil, err
		}
		if miss := MissingTokens(m, c.RequiredTokens()); len(miss) > 0 {
			return nil, &MissingTokenError{Format: NameChat, Family: c.Family(), Token: miss[0]}
		}
		return c, nil
	}
	return nil, unknownName(name)
}

// chatForModel is the chat format of a model: its own template rendered by
// Jinja as apply_chat_template does; llama.cpp's renderer (which recognises
// templates by heuristics and writes its built-in layout) when the Jinja
// engine cannot compile or run the template, or when the template drops
// system messages (the chat format's description and examples live there);
// the family's llama.cpp built-in template when the model has none.
func chatForModel(family Family, m Model) (*Chat, error) {
	tmpl := m.ChatTemplate()
	if tmpl == "" {
		return NewChat(family, "")
	}
	apply := jinjaApply(m)
	c, err := newChat(family, tmpl, apply)
	if err == nil {
		err = keepsSystem(apply, tmpl)
	}
	if err == nil {
		c.renderer = RendererJinja
		return c, nil
	}
	c, err2 := NewChat(family, tmpl)
	if err2 != nil {
		return nil, fmt.Errorf("%w (and with Jinja: %v)", err2, err)
	}
	c.fallback = err
	return c, nil
}

// Describe returns a format's name with its family, e.g. "spectrum (gemma3)".
func Describe(f Format) string {
	switch v := f.(type) {
	case *Spectrum:
		return fmt.Sprintf("%s (%s)", v.Name(), v.Family())
	case *Chat:
		if v.Renderer() == RendererJinja {
			return fmt.Sprintf("%s (%s template, jinja)", v.Name(), v.Family())
		}
		return fmt.Sprintf("%s (%s template)", v.Name(), v.Family())
	}
	return f.Name()
}

// RenderTokens renders msgs with f and tokenizes the segments (Tokenize, or
// TokenizePrompt with startGeneration).
func RenderTokens(f Format, tok Tokenizer, msgs []Message, startGeneration bool) ([]Segment, Tokens, error) {
	segs, err := f.Render(msgs, startGeneration)
	if err != nil {
		return nil, Tokens{}, err
	}
	var t Tokens
	if startGeneration {
		t, err = TokenizePrompt(tok, segs)
	} else {
		t, err = Tokenize(tok, segs)
	}
	return segs, t, err
}
