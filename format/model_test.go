package format

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
)

// sharedModels is the folder of offline test models beside the checkout.
var sharedModels = filepath.Join("..", "..", "shared", "models")

func loadVocab(t testing.TB, name string) *llama.Model {
	t.Helper()
	p := filepath.Join(sharedModels, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test model missing: %v", err)
	}
	m, err := llama.LoadModel(p, llama.ModelParams{VocabOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// *llama.Model is a Model (and so a Tokenizer).
var _ Model = (*llama.Model)(nil)

// checkRow checks a tokenized row against its segments, independently of
// Tokenize's code: the row is [BOS if the model adds one] + each segment
// tokenized alone without special tokens added + [EOS unless prompt]; each
// token carries its segment's loss flag; example indices number the scored
// segments (no two scored segments are adjacent in the shipped formats).
func checkRow(t *testing.T, tk Tokenizer, segs []Segment, row Tokens, prompt bool) {
	t.Helper()
	var want Tokens
	if tk.AddBOS() && tk.BOS() >= 0 {
		want.IDs = append(want.IDs, tk.BOS())
		want.Loss = append(want.Loss, false)
		want.ExampleIndex = append(want.ExampleIndex, -1)
	}
	run := -1
	for _, s := range segs {
		ids, err := tk.Tokenize(s.Text, false, true)
		if err != nil {
			t.Fatal(err)
		}
		if s.Loss {
			run++
		}
		for _, id := range ids {
			want.IDs = append(want.IDs, id)
			want.Loss = append(want.Loss, s.Loss)
			if s.Loss {
				want.ExampleIndex = append(want.ExampleIndex, run)
			} else {
				want.ExampleIndex = append(want.ExampleIndex, -1)
			}
		}
		// A scored segment's pieces spell its text (SPM vocabularies add a
		// space before each separately tokenized text).
		if s.Loss {
			var b strings.Builder
			for _, id := range ids {
				b.WriteString(tk.TokenToPiece(id))
			}
			if got := b.String(); got != s.Text && got != " "+s.Text {
				t.Errorf("pieces of scored segment %q spell %q", s.Text, got)
			}
		}
	}
	if !prompt && tk.EOS() >= 0 {
		want.IDs = append(want.IDs, tk.EOS())
		want.Loss = append(want.Loss, false)
		want.ExampleIndex = append(want.ExampleIndex, -1)
	}
	if !reflect.DeepEqual(row, want) {
		t.Errorf("row differs from the segment-wise tokens:\ngot  %v\n     %v\n     %v\nwant %v\n     %v\n     %v",
			row.IDs, row.Loss, row.ExampleIndex, want.IDs, want.Loss, want.ExampleIndex)
	}
	// BOS only at the start, EOS only at the end.
	for i, id := range row.IDs {
		if id == tk.BOS() && i != 0 && !(id == tk.EOS() && i == len(row.IDs)-1) {
			t.Errorf("BOS at %d", i)
		}
		if id == tk.EOS() && i != len(row.IDs)-1 {
			t.Errorf("EOS at %d of %d", i, len(row.IDs))
		}
	}
	if tk.AddBOS() != (len(row.IDs) > 0 && row.IDs[0] == tk.BOS()) {
		t.Errorf("AddBOS %v but row starts with %v", tk.AddBOS(), row.IDs[:1])
	}
}

func scoredTexts(segs []Segment) []string {
	var out []string
	for _, s := range segs {
		if s.Loss {
			out = append(out, s.Text)
		}
	}
	return out
}

type realModel struct {
	file   string
	family Family
	bos    int32
	eos    int32
	// formats that must work, and the spectrum family whose missing token
	// is expected.
	formats []string
	missing map[Family]string
}

var realModels = []realModel{
	{"stories260K.gguf", FamilyNone, 1, 2, []string{"colon"},
		map[Family]string{FamilyGemma3: "<start_of_turn>", FamilyChatML: "<|im_start|>", FamilyLlama3: "<|start_header_id|>"}},
	{"llama-2-tiny-random.gguf", FamilyNone, 1, 2, []string{"colon"},
		map[Family]string{FamilyGemma3: "<start_of_turn>", FamilyChatML: "<|im_start|>", FamilyLlama3: "<|start_header_id|>"}},
	{"vocab/ggml-vocab-phi-3.gguf", FamilyPhi3, 1, 32000, []string{"colon", "chat"},
		map[Family]string{FamilyGemma3: "<start_of_turn>", FamilyChatML: "<|im_start|>", FamilyLlama3: "<|start_header_id|>"}},
}

func TestTokenizeRealModels(t *testing.T) {
	for _, rm := range realModels {
		t.Run(filepath.Base(rm.file), func(t *testing.T) {
			m := loadVocab(t, rm.file)
			if info, err := models.ReadInfo(filepath.Join(sharedModels, rm.file)); err != nil || info.Family != rm.family {
				t.Errorf("models detects family %v (%v), want %q", info, err, rm.family)
			}
			if m.BOS() != rm.bos || m.EOS() != rm.eos || !m.AddBOS() {
				t.Fatalf("BOS %d EOS %d AddBOS %v", m.BOS(), m.EOS(), m.AddBOS())
			}
			// auto → colon: none of these has the Spectrum turn tokens.
			f, err := ForModel("auto", rm.family, m)
			if err != nil || f.Name() != "colon" {
				t.Errorf("auto: %v %v", f, err)
			}
			for fam, tok := range rm.missing {
				_, err := ForModel("spectrum", fam, m)
				var me *MissingTokenError
				if !errors.As(err, &me) || me.Token != tok || !strings.Contains(err.Error(), tok) {
					t.Errorf("spectrum %s: %v, want a missing %s", fam, err, tok)
				}
			}
			for _, name := range rm.formats {
				f, err := ForModel(name, rm.family, m)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for _, p := range patterns {
					for _, gen := range []bool{false, true} {
						t.Run(fmt.Sprintf("%s/%s/gen=%v", name, p.name, gen), func(t *testing.T) {
							segs, row, err := RenderTokens(f, m, p.msgs, gen)
							if err != nil {
								t.Fatal(err)
							}
							checkRow(t, m, segs, row, gen)
							if got, want := row.NumExamples(), len(scoredTexts(segs)); got != want {
								t.Errorf("%d example runs, %d scored segments", got, want)
							}
						})
					}
				}
			}
		})
	}
}

// TestPhi3Chat renders with the Phi-3 vocabulary's own chat template (a
// Jinja text llama.cpp recognises as phi3) and checks the tokens.
func TestPhi3Chat(t *testing.T) {
	m := loadVocab(t, "vocab/ggml-vocab-phi-3.gguf")
	if m.ChatTemplate() == "" {
		t.Fatal("phi-3 vocab has no chat template")
	}
	f, err := ForModel("chat", FamilyNone, m)
	if err != nil {
		t.Fatal(err)
	}
	c := f.(*Chat)
	if c.Family() != FamilyPhi3 || c.Template() != m.ChatTemplate() || c.StopString() != "<|end|>" {
		t.Errorf("family %s stop %q", c.Family(), c.StopString())
	}
	segs, row, err := RenderTokens(f, m, patterns[3].msgs, false) // inputs, no description
	if err != nil {
		t.Fatal(err)
	}
	if got := scoredTexts(segs); !reflect.DeepEqual(got, []string{"OUT2<|end|>"}) {
		t.Errorf("scored %q", got)
	}
	if !strings.HasPrefix(Text(segs), "<|system|>\nYou are tasked") ||
		!strings.Contains(Text(segs), "\n\n\nExample Input: IN1\n\nExample Output: OUT1<|end|>\n<|user|>\nIN2<|end|>\n<|assistant|>\n") {
		t.Errorf("text %q", Text(segs))
	}
	// The scored run ends with the single token <|end|> (32007).
	last := -1
	for i, e := range row.ExampleIndex {
		if e == 0 {
			last = i
		}
	}
	if last < 0 || row.IDs[last] != 32007 || row.IDs[len(row.IDs)-1] != 32000 {
		t.Errorf("last scored token %v, row ends %v", row.IDs[last], row.IDs[len(row.IDs)-1])
	}
}
