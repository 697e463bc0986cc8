// Package format renders Spectrum messages (roles description, input and
// output) into text segments carrying loss flags, and tokenizes them into
// token ids with a loss mask and per-token example indices.
//
// The strings are byte-identical to the reference implementation
// (tsor13/spectrum, src/spectrum/format_utils.py; see
// shared/docs/spectrum-reference.md §2 and §3):
//
//   - "spectrum": the Spectrum Tuning format, the description/input/output
//     roles wrapped in a model family's own turn tokens (Gemma-3
//     <start_of_turn>…, ChatML/Qwen3 <|im_start|>…, Llama-3 header ids).
//     Loss on each output's content plus its end token; the first output
//     carries no loss when no description precedes it.
//   - "colon": "Description: …", "Input: …", "Output: …" blocks separated by
//     blank lines, for pretrained models without turn tokens. Every output is
//     scored.
//   - "chat": the reference's conversion into a system/user/assistant
//     conversation, rendered with the model's own chat template by llama.cpp
//     (llama_chat_apply_template); loss on each assistant turn's content plus
//     its end string.
//
// Rendering is pure string work. Tokenization (Tokenize) works against the
// small Tokenizer interface, which *llama.Model satisfies.
package format

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spectrumkit/spectrum/models"
)

// Roles of Spectrum messages.
const (
	RoleDescription = "description"
	RoleInput       = "input"
	RoleOutput      = "output"
)

// Format names accepted by ForFamily and ForModel.
const (
	NameAuto     = "auto"
	NameSpectrum = "spectrum"
	NameColon    = "colon"
	NameChat     = "chat"
)

// Names lists the format names a user can ask for, "auto" first.
func Names() []string { return []string{NameAuto, NameSpectrum, NameColon, NameChat} }

// Message is one Spectrum message: at most one description, first, then
// (input?, output) examples.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Messages converts messages of another package with the same fields
// (suite.Message: a row's turns) for rendering.
func Messages[M ~struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}](ms []M) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = Message(m)
	}
	return out
}

// Segment is one piece of rendered text. Loss marks a training target /
// scored span. Segments are tokenized one by one (§3.1), so the boundaries
// matter, not only the concatenated text.
type Segment struct {
	Text string `json:"text"`
	Loss bool   `json:"loss"`
}

// Format turns messages into segments.
type Format interface {
	// Name is the format's name: "spectrum", "colon" or "chat".
	Name() string
	// Render renders msgs. With startGeneration the prompt for the next
	// output is appended (never scored).
	Render(msgs []Message, startGeneration bool) ([]Segment, error)
	// StopString is the string that ends a generated output.
	StopString() string
}

// Family is a model family, i.e. which turn tokens the model knows; the
// models package detects it from a GGUF (models.Info.Family).
type Family = models.Family

// Model families.
const (
	FamilyNone   = models.FamilyNone
	FamilyGemma3 = models.FamilyGemma3
	FamilyChatML = models.FamilyChatML
	FamilyLlama3 = models.FamilyLlama3
	FamilyPhi3   = models.FamilyPhi3
)

// Families lists the known families (FamilyNone excluded).
func Families() []Family { return []Family{FamilyGemma3, FamilyChatML, FamilyLlama3, FamilyPhi3} }

// ParseFamily parses a family name ("" is FamilyNone). Besides the family
// names it accepts the common aliases "gemma", "gemma-3", "qwen", "qwen3",
// "llama-3", "llama3.1" and "phi-3".
func ParseFamily(s string) (Family, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return FamilyNone, nil
	case "gemma3", "gemma-3", "gemma":
		return FamilyGemma3, nil
	case "chatml", "qwen", "qwen3", "qwen2":
		return FamilyChatML, nil
	case "llama3", "llama-3", "llama3.1", "llama-3.1":
		return FamilyLlama3, nil
	case "phi3", "phi-3":
		return FamilyPhi3, nil
	}
	return FamilyNone, fmt.Errorf("format: unknown model family %q (known: gemma3, chatml, llama3, phi3)", s)
}

// ForFamily returns the named format for a model family given as a string
// (see ParseFamily). name is "spectrum", "colon" or "chat"; "auto" picks
// "spectrum" when the family has a Spectrum variant and "colon" otherwise,
// without looking at a vocabulary (ForModel checks the model's tokens). The
// chat format built here renders with the family's llama.cpp built-in chat
// template (gemma, chatml, llama3, phi3).
func ForFamily(name string, family string) (Format, error) {
	fam, err := ParseFamily(family)
	if err != nil {
		return nil, err
	}
	switch name {
	case NameAuto:
		if _, ok := spectrumFamilies[fam]; ok {
			return NewSpectrum(fam)
		}
		return NewColon(), nil
	case NameSpectrum:
		return NewSpectrum(fam)
	case NameColon:
		return NewColon(), nil
	case NameChat:
		return NewChat(fam, "")
	}
	return nil, unknownName(name)
}

func unknownName(name string) error {
	return fmt.Errorf("format: unknown format %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// Text concatenates the segments' texts.
func Text(segs []Segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteString(s.Text)
	}
	return b.String()
}

// ShowLoss returns the text with every loss segment wrapped in open and
// close, e.g. ShowLoss(segs, "§", "§") like the reference's show_loss_texts.
func ShowLoss(segs []Segment, open, close string) string {
	var b strings.Builder
	for _, s := range segs {
		if s.Loss {
			b.WriteString(open)
			b.WriteString(s.Text)
			b.WriteString(close)
		} else {
			b.WriteString(s.Text)
		}
	}
	return b.String()
}

// pyIsSpace reports whether Python's str.isspace holds for r: Go's
// unicode.IsSpace plus the separators U+001C…U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip is Python's str.strip() with no argument.
func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// pyCapitalize is Python's str.capitalize(): first character title-cased,
// the rest lower-cased.
func pyCapitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToTitle(r)) + strings.ToLower(s[n:])
}

// sortedKeys returns the keys of a family-keyed map in order, for messages.
func sortedKeys[V any](m map[Family]V) []string {
	var out []string
	for k := range m {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}

func checkRoles(msgs []Message) error {
	for i, m := range msgs {
		if m.Role == "" {
			return fmt.Errorf("format: message %d has no role", i)
		}
	}
	return nil
}
