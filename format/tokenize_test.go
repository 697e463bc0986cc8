package format

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fakeTok is a byte-level tokenizer with a few special tokens: a byte b is
// token 1000+b; specials are parsed only with parseSpecial.
type fakeTok struct {
	specials []string // id = index
	bos, eos int32
	addBOS   bool
	addEOS   bool // appends EOS with addSpecial, like some HF tokenizers
}

func (f *fakeTok) Tokenize(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	if strings.Contains(text, "\x00") {
		return nil, errors.New("NUL")
	}
	var ids []int32
	if addSpecial && f.addBOS && f.bos >= 0 {
		ids = append(ids, f.bos)
	}
outer:
	for len(text) > 0 {
		if parseSpecial {
			for i, s := range f.specials {
				if s != "" && strings.HasPrefix(text, s) {
					ids = append(ids, int32(i))
					text = text[len(s):]
					continue outer
				}
			}
		}
		ids = append(ids, 1000+int32(text[0]))
		text = text[1:]
	}
	if addSpecial && f.addEOS && f.eos >= 0 {
		ids = append(ids, f.eos)
	}
	return ids, nil
}

func (f *fakeTok) TokenToPiece(t int32) string {
	if t >= 1000 {
		return string([]byte{byte(t - 1000)})
	}
	if t >= 0 && int(t) < len(f.specials) {
		return f.specials[t]
	}
	return ""
}
func (f *fakeTok) BOS() int32           { return f.bos }
func (f *fakeTok) EOS() int32           { return f.eos }
func (f *fakeTok) AddBOS() bool         { return f.addBOS }
func (f *fakeTok) ChatTemplate() string { return "" }

func gemmaFake() *fakeTok {
	return &fakeTok{specials: []string{"<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"}, bos: 2, eos: 1, addBOS: true}
}

func TestExampleIndices(t *testing.T) {
	got := ExampleIndices([]bool{false, true, true, false, true, false, false, true})
	if want := []int{-1, 0, 0, -1, 1, -1, -1, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	if got := ExampleIndices([]bool{true, true}); !reflect.DeepEqual(got, []int{0, 0}) {
		t.Errorf("got %v", got)
	}
}

func TestTokenizeFake(t *testing.T) {
	tk := gemmaFake()
	f, _ := NewSpectrum(FamilyGemma3)
	segs := renderOrFatal(t, f, patterns[1].msgs, false) // outputs only: OUT1 unscored
	toks, err := Tokenize(tk, segs)
	if err != nil {
		t.Fatal(err)
	}
	// BOS once at the start, final EOS unlabelled.
	if toks.IDs[0] != 2 || toks.IDs[len(toks.IDs)-1] != 1 || toks.Loss[len(toks.Loss)-1] || toks.ExampleIndex[len(toks.IDs)-1] != -1 {
		t.Fatalf("ids %v", toks.IDs)
	}
	for i, id := range toks.IDs[1:] {
		if id == 2 {
			t.Errorf("BOS at %d", i+1)
		}
	}
	// The rows's text (minus BOS/EOS) is the rendering, token by token.
	var b strings.Builder
	var scored strings.Builder
	for i, id := range toks.IDs[1 : len(toks.IDs)-1] {
		b.WriteString(tk.TokenToPiece(id))
		if toks.Loss[i+1] {
			scored.WriteString(tk.TokenToPiece(id))
			if toks.ExampleIndex[i+1] != 0 {
				t.Errorf("example index %d at %d", toks.ExampleIndex[i+1], i+1)
			}
		} else if toks.ExampleIndex[i+1] != -1 {
			t.Errorf("unlabelled token %d has example index %d", i+1, toks.ExampleIndex[i+1])
		}
	}
	if b.String() != Text(segs) || scored.String() != "OUT2<end_of_turn>" {
		t.Errorf("text %q scored %q", b.String(), scored.String())
	}
	if toks.NumLabels() != len("OUT2")+1 || toks.NumExamples() != 1 {
		t.Errorf("labels %d examples %d", toks.NumLabels(), toks.NumExamples())
	}
	// TokenizePrompt: no final EOS.
	p, err := TokenizePrompt(tk, segs)
	if err != nil || len(p.IDs) != len(toks.IDs)-1 || !reflect.DeepEqual(p.IDs, toks.IDs[:len(toks.IDs)-1]) {
		t.Errorf("prompt %v %v", p.IDs, err)
	}
}

func TestTokenizeEOSRules(t *testing.T) {
	segs := []Segment{{Text: "a"}, {Text: "b<end_of_turn>", Loss: true}, {Text: "c"}}
	// A tokenizer that appends its EOS (a non-turn token) to every call: the
	// appended EOS is dropped from each segment; one EOS ends the row.
	tk := gemmaFake()
	tk.addEOS = true
	toks, err := Tokenize(tk, segs)
	if err != nil {
		t.Fatal(err)
	}
	want := []int32{2, 1000 + 'a', 1000 + 'b', 4, 1000 + 'c', 1}
	if !reflect.DeepEqual(toks.IDs, want) {
		t.Errorf("got %v want %v", toks.IDs, want)
	}
	if !reflect.DeepEqual(toks.Loss, []bool{false, false, true, true, false, false}) {
		t.Errorf("loss %v", toks.Loss)
	}
	// With <end_of_turn> as EOS (an instruct tokenizer) the turn end stays
	// inside the segment, and the row ending with it gets no extra EOS.
	tk = gemmaFake()
	tk.eos = 4
	toks, _ = Tokenize(tk, segs[:2])
	if want := []int32{2, 1000 + 'a', 1000 + 'b', 4}; !reflect.DeepEqual(toks.IDs, want) {
		t.Errorf("turn-end EOS: got %v want %v", toks.IDs, want)
	}
	// No BOS added (Qwen-like), no EOS at all.
	tk = gemmaFake()
	tk.addBOS, tk.eos = false, -1
	toks, _ = Tokenize(tk, segs)
	if want := []int32{1000 + 'a', 1000 + 'b', 4, 1000 + 'c'}; !reflect.DeepEqual(toks.IDs, want) {
		t.Errorf("no BOS/EOS: got %v want %v", toks.IDs, want)
	}
	// A tokenizer that adds no BOS drops nothing at a segment start, even
	// when its BOS id is named (as GGUFs of Qwen do, with BOS = EOS).
	toks, _ = Tokenize(tk, []Segment{{Text: "x"}, {Text: "<bos>y"}})
	if want := []int32{1000 + 'x', 2, 1000 + 'y'}; !reflect.DeepEqual(toks.IDs, want) {
		t.Errorf("no BOS added, BOS text: got %v want %v", toks.IDs, want)
	}
	// At a later segment's start the reference's two checks drop up to two
	// BOS tokens: the added one and a literal "<bos>"; a third stays. The
	// first segment keeps both.
	tk = gemmaFake()
	toks, _ = Tokenize(tk, []Segment{{Text: "<bos>x"}, {Text: "<bos>y"}, {Text: "<bos><bos>z"}})
	if want := []int32{2, 2, 1000 + 'x', 1000 + 'y', 2, 1000 + 'z', 1}; !reflect.DeepEqual(toks.IDs, want) {
		t.Errorf("BOS texts: got %v want %v", toks.IDs, want)
	}
	if _, err := Tokenize(tk, []Segment{{Text: "\x00"}}); err == nil {
		t.Error("tokenizer error not passed on")
	}
	empty, err := Tokenize(tk, nil)
	if err != nil || !reflect.DeepEqual(empty.IDs, []int32{1}) {
		t.Errorf("empty row: %v %v", empty.IDs, err)
	}
}

func TestTruncate(t *testing.T) {
	tk := gemmaFake()
	f, _ := NewSpectrum(FamilyGemma3)
	segs := renderOrFatal(t, f, patterns[2].msgs, false) // desc + 2 scored outputs
	full, _ := Tokenize(tk, segs)
	// Cut inside the second output: its prefix keeps the loss.
	first := -1
	for i, e := range full.ExampleIndex {
		if e == 1 {
			first = i
			break
		}
	}
	cut := full
	if noLabels := cut.Truncate(first + 2); noLabels {
		t.Fatal("row reported empty")
	}
	if cut.Len() != first+2 || !cut.Loss[first] || !cut.Loss[first+1] || cut.ExampleIndex[first+1] != 1 || cut.NumExamples() != 2 {
		t.Errorf("cut row: loss %v examples %v", cut.Loss, cut.ExampleIndex)
	}
	// Cut before any labelled token: reported.
	cut2 := full
	if !cut2.Truncate(3) {
		t.Error("row without labels not reported")
	}
	// No cut.
	cut3 := full
	if cut3.Truncate(0) || cut3.Len() != full.Len() || cut3.Truncate(full.Len()) {
		t.Error("Truncate changed a short row")
	}
	// Appending to a cut row does not overwrite the original.
	cut.IDs = append(cut.IDs, 7)
	if full.IDs[first+2] == 7 {
		t.Error("Truncate shares capacity")
	}
}

func TestForModelFake(t *testing.T) {
	tk := gemmaFake()
	f, err := ForModel("auto", FamilyGemma3, tk)
	if err != nil || Describe(f) != "spectrum (gemma3)" {
		t.Errorf("auto gemma: %v %v", f, err)
	}
	f, err = ForModel("auto", FamilyChatML, tk)
	if err != nil || f.Name() != "colon" {
		t.Errorf("auto chatml on a gemma vocab: %v %v", f, err)
	}
	_, err = ForModel("spectrum", FamilyLlama3, tk)
	var me *MissingTokenError
	if !errors.As(err, &me) || me.Token != "<|start_header_id|>" || !strings.Contains(err.Error(), `"<|start_header_id|>"`) {
		t.Errorf("spectrum llama3 on a gemma vocab: %v", err)
	}
	tk.specials[4] = "" // no <end_of_turn>
	_, err = ForModel("spectrum", FamilyGemma3, tk)
	if !errors.As(err, &me) || me.Token != "<end_of_turn>" {
		t.Errorf("missing <end_of_turn>: %v", err)
	}
	f, err = ForModel("auto", FamilyGemma3, tk)
	if err != nil || f.Name() != "colon" {
		t.Errorf("auto without <end_of_turn>: %v %v", f, err)
	}
	// chat: no template → the family's built-in one, whose tokens are checked.
	_, err = ForModel("chat", FamilyGemma3, tk)
	if !errors.As(err, &me) || me.Token != "<end_of_turn>" || me.Format != "chat" {
		t.Errorf("chat without <end_of_turn>: %v", err)
	}
	tk.specials[4] = "<end_of_turn>"
	f, err = ForModel("chat", FamilyGemma3, tk)
	if err != nil || Describe(f) != "chat (gemma3 template)" {
		t.Errorf("chat gemma: %v %v", f, err)
	}
	if _, err := ForModel("chat", FamilyNone, tk); err == nil {
		t.Error("chat without template or family: no error")
	}
	if _, err := ForModel("nope", FamilyGemma3, tk); err == nil {
		t.Error("unknown format: no error")
	}
}
