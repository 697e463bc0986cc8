package format

import (
	"errors"
	"fmt"
	"strings"
)

// Trainer data layouts that Export writes, for training on other engines
// (many GPUs) with exactly our loss masks.
const (
	// ExportAxolotl is axolotl's input_output dataset type:
	// {"segments": [{"label": bool, "text": str}, …]}. Axolotl tokenizes each
	// segment on its own without adding special tokens, as we do, so the
	// BOS is written as text at the start and the final EOS as an unlabelled
	// segment.
	ExportAxolotl = "axolotl"
	// ExportTRL is TRL's prompt/completion layout, one record per scored
	// span: {"prompt": everything before it, "completion": the span}. One
	// record can hold only one scored span, so a row with n outputs becomes n
	// records (the same loss, at about n/2 times the tokens).
	ExportTRL = "trl"
	// ExportTokens is token ids with labels: {"input_ids": […], "labels": […]},
	// −100 on unscored tokens (the Hugging Face convention).
	ExportTokens = "tokens"
)

// ExportLayouts lists the layouts.
func ExportLayouts() []string { return []string{ExportAxolotl, ExportTRL, ExportTokens} }

// AxolotlSegment is one segment of axolotl's input_output type.
type AxolotlSegment struct {
	Label bool   `json:"label"`
	Text  string `json:"text"`
}

// TRLRecord is one prompt/completion record.
type TRLRecord struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
	// Example is the scored span's example index in its row.
	Example int `json:"example_index"`
}

// AxolotlSegments turns rendered segments into axolotl input_output
// segments that tokenize (each on its own, no special tokens added, special
// token texts parsed) to exactly Tokenize(tok, segs): the BOS the tokenizer
// adds is written as its text before the first segment, the final EOS as a
// last, unlabelled segment.
func AxolotlSegments(tok Tokenizer, segs []Segment) ([]AxolotlSegment, error) {
	if len(segs) == 0 {
		return nil, errors.New("format: export: no segments")
	}
	toks, err := Tokenize(tok, segs)
	if err != nil {
		return nil, err
	}
	out := make([]AxolotlSegment, 0, len(segs)+1)
	for i, s := range segs {
		text := s.Text
		if i == 0 && tok.BOS() >= 0 && tok.AddBOS() {
			text = tok.TokenToPiece(tok.BOS()) + text
		}
		out = append(out, AxolotlSegment{Label: s.Loss, Text: text})
	}
	if eos := tok.EOS(); eos >= 0 && len(toks.IDs) > 0 && toks.IDs[len(toks.IDs)-1] == eos && !toks.Loss[len(toks.IDs)-1] {
		last := segs[len(segs)-1].Text
		piece := tok.TokenToPiece(eos)
		if !strings.HasSuffix(last, piece) {
			out = append(out, AxolotlSegment{Label: false, Text: piece})
		}
	}
	return out, nil
}

// TRLRecords turns rendered segments into one prompt/completion record per
// scored span (consecutive scored segments form one span, as example
// indices do). The prompt is the text before the span; trainers add the BOS
// themselves.
func TRLRecords(segs []Segment) ([]TRLRecord, error) {
	var out []TRLRecord
	var prefix strings.Builder
	ex := -1
	for i := 0; i < len(segs); {
		if !segs[i].Loss {
			prefix.WriteString(segs[i].Text)
			i++
			continue
		}
		var comp strings.Builder
		for i < len(segs) && segs[i].Loss {
			comp.WriteString(segs[i].Text)
			i++
		}
		ex++
		out = append(out, TRLRecord{Prompt: prefix.String(), Completion: comp.String(), Example: ex})
		prefix.WriteString(comp.String())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("format: export: the row has no scored output")
	}
	return out, nil
}

// TokenLabels returns the ids and labels (the id where scored, −100
// elsewhere) of a tokenized row.
func TokenLabels(t Tokens) (ids []int32, labels []int32) {
	labels = make([]int32, len(t.IDs))
	for i, id := range t.IDs {
		labels[i] = -100
		if t.Loss[i] {
			labels[i] = id
		}
	}
	return t.IDs, labels
}
