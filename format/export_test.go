package format

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
)

// checkExports: the exported layouts re-tokenize to exactly our tokens and
// loss masks. Axolotl tokenizes each segment alone, adding no special
// tokens; TRL scores each completion, tokenized alone, after its prompt.
func checkExports(t *testing.T, tok Tokenizer, f Format, msgs []Message) {
	t.Helper()
	segs, row, err := RenderTokens(f, tok, msgs, false)
	if err != nil {
		t.Fatal(err)
	}
	// axolotl
	as, err := AxolotlSegments(tok, segs)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int32
	var loss []bool
	for _, s := range as {
		got, err := tok.Tokenize(s.Text, false, true)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got...)
		for range got {
			loss = append(loss, s.Label)
		}
	}
	if !slices.Equal(ids, row.IDs) || !slices.Equal(loss, row.Loss) {
		t.Errorf("axolotl segments re-tokenize to\n%v %v\nwant\n%v %v", ids, loss, row.IDs, row.Loss)
	}
	// trl: one record per scored run, in order; each completion tokenizes
	// to the run's tokens; prompt + completion is the text up to the run.
	recs, err := TRLRecords(segs)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != row.NumExamples() {
		t.Fatalf("%d TRL records for %d scored runs", len(recs), row.NumExamples())
	}
	full := Text(segs)
	for k, r := range recs {
		var run []int32
		for i, id := range row.IDs {
			if row.ExampleIndex[i] == k {
				run = append(run, id)
			}
		}
		got, err := tok.Tokenize(r.Completion, false, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, run) || r.Example != k {
			t.Errorf("TRL record %d completion %q tokenizes to %v, want %v", k, r.Completion, got, run)
		}
		if !strings.HasPrefix(full, r.Prompt+r.Completion) {
			t.Errorf("TRL record %d: prompt+completion is not a prefix of the row's text", k)
		}
	}
	// tokens
	gotIDs, labels := TokenLabels(row)
	for i := range gotIDs {
		if (labels[i] == -100) == row.Loss[i] || (row.Loss[i] && labels[i] != row.IDs[i]) {
			t.Fatalf("label %d = %d for token %d (loss %v)", i, labels[i], row.IDs[i], row.Loss[i])
		}
	}
}

// TestExportSynth: every family's spectrum format and the colon format,
// every message pattern.
func TestExportSynth(t *testing.T) {
	for _, c := range synthCases {
		t.Run(string(c.family), func(t *testing.T) {
			path := writeSynth(t, c)
			info, err := models.ReadInfo(path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := llama.LoadModel(path, llama.ModelParams{VocabOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			spec, err := ForModel(NameSpectrum, info.Family, m)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []Format{spec, NewColon()} {
				for _, p := range patterns {
					t.Run(f.Name()+"/"+p.name, func(t *testing.T) { checkExports(t, m, f, p.msgs) })
				}
			}
		})
	}
}

// TestExportSentencePiece: a SentencePiece vocabulary that adds BOS and a
// space prefix (llama), in the colon format.
func TestExportSentencePiece(t *testing.T) {
	m := loadVocab(t, "vocab/ggml-vocab-llama-spm.gguf")
	for _, p := range patterns {
		t.Run(p.name, func(t *testing.T) { checkExports(t, m, NewColon(), p.msgs) })
	}
	// The layouts by hand for one row.
	segs := []Segment{{Text: "Output: ", Loss: false}, {Text: "Heads", Loss: true}, {Text: "\n", Loss: false}}
	as, err := AxolotlSegments(m, segs)
	if err != nil {
		t.Fatal(err)
	}
	want := []AxolotlSegment{{false, "<s>Output: "}, {true, "Heads"}, {false, "\n"}, {false, "</s>"}}
	if !reflect.DeepEqual(as, want) {
		t.Errorf("axolotl segments %+v, want %+v", as, want)
	}
	recs, _ := TRLRecords(segs)
	if len(recs) != 1 || recs[0] != (TRLRecord{Prompt: "Output: ", Completion: "Heads"}) {
		t.Errorf("TRL records %+v", recs)
	}
	if _, err := TRLRecords([]Segment{{Text: "x"}}); err == nil {
		t.Error("a row without scored spans exported to TRL")
	}
}
