package format

import "fmt"

// spectrumStrings are one family's strings of the spectrum format (§2.1).
type spectrumStrings struct {
	start     string // before the role name
	headerEnd string // after the role name
	end       string // the end-of-turn token
	sep       string // after the end token ("\n"; "" for Llama-3)
	tokens    []string
}

var spectrumFamilies = map[Family]spectrumStrings{
	FamilyGemma3: {
		start: "<start_of_turn>", headerEnd: "\n", end: "<end_of_turn>", sep: "\n",
		tokens: []string{"<start_of_turn>", "<end_of_turn>"},
	},
	FamilyChatML: {
		start: "<|im_start|>", headerEnd: "\n", end: "<|im_end|>", sep: "\n",
		tokens: []string{"<|im_start|>", "<|im_end|>"},
	},
	FamilyLlama3: {
		start: "<|start_header_id|>", headerEnd: "<|end_header_id|>\n\n", end: "<|eot_id|>", sep: "",
		tokens: []string{"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
	},
}

// Spectrum is the Spectrum Tuning format for one model family.
type Spectrum struct {
	family Family
	s      spectrumStrings
}

// NewSpectrum returns the spectrum format of a family: gemma3, chatml
// (Qwen3) or llama3. Other families have no Spectrum variant.
func NewSpectrum(family Family) (*Spectrum, error) {
	s, ok := spectrumFamilies[family]
	if !ok {
		if family == FamilyNone {
			return nil, fmt.Errorf("format: the spectrum format needs a model family with turn tokens (one of %v); use colon for models without", sortedKeys(spectrumFamilies))
		}
		return nil, fmt.Errorf("format: the spectrum format has no variant for family %q (has %v)", family, sortedKeys(spectrumFamilies))
	}
	return &Spectrum{family: family, s: s}, nil
}

// Name returns "spectrum".
func (f *Spectrum) Name() string { return NameSpectrum }

// Family returns the model family the format is for.
func (f *Spectrum) Family() Family { return f.family }

// StopString returns the family's end-of-turn token.
func (f *Spectrum) StopString() string { return f.s.end }

// RequiredTokens returns the special tokens the format's strings contain;
// each must be a single token of the model's vocabulary.
func (f *Spectrum) RequiredTokens() []string { return append([]string(nil), f.s.tokens...) }

// GenerationPrompt returns the text appended by Render's startGeneration.
func (f *Spectrum) GenerationPrompt() string { return f.header(RoleOutput) }

func (f *Spectrum) header(role string) string { return f.s.start + role + f.s.headerEnd }

// Render renders messages as in messages_to_spectrum_loss_texts: a
// description or input message (any role other than output) is one
// unscored segment header+content+end+sep; an output is the unscored header,
// the scored content+end, and the unscored separator (absent for Llama-3).
// When no description message precedes the first output, that output's
// segments are unscored.
func (f *Spectrum) Render(msgs []Message, startGeneration bool) ([]Segment, error) {
	if err := checkRoles(msgs); err != nil {
		return nil, err
	}
	segs := make([]Segment, 0, 3*len(msgs)+1)
	sawDescription, sawOutput := false, false
	for _, m := range msgs {
		switch m.Role {
		case RoleOutput:
			loss := sawDescription || sawOutput
			segs = append(segs,
				Segment{Text: f.header(m.Role)},
				Segment{Text: m.Content + f.s.end, Loss: loss})
			if f.s.sep != "" {
				segs = append(segs, Segment{Text: f.s.sep})
			}
			sawOutput = true
		default:
			if m.Role == RoleDescription {
				sawDescription = true
			}
			segs = append(segs, Segment{Text: f.header(m.Role) + m.Content + f.s.end + f.s.sep})
		}
	}
	if startGeneration {
		segs = append(segs, Segment{Text: f.header(RoleOutput)})
	}
	return segs, nil
}
