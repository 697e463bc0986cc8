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
//     chat template (the family's llama.cpp built-in one when the model has
//     none); the template's tokens must be single special tokens;
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
		c, err := NewChat(family, m.ChatTemplate())
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

// Describe returns a format's name with its family, e.g. "spectrum (gemma3)".
func Describe(f Format) string {
	switch v := f.(type) {
	case *Spectrum:
		return fmt.Sprintf("%s (%s)", v.Name(), v.Family())
	case *Chat:
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
