package format

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

func msg(role, content string) Message { return Message{Role: role, Content: content} }

// pattern is one message pattern of the golden tests.
type pattern struct {
	name string
	msgs []Message
}

var patterns = []pattern{
	{"desc_inputs_outputs", []Message{
		msg("description", "DESC"), msg("input", "IN1"), msg("output", "OUT1"), msg("input", "IN2"), msg("output", "OUT2"),
	}},
	{"outputs_only", []Message{msg("output", "OUT1"), msg("output", "OUT2")}},
	{"desc_outputs", []Message{msg("description", "DESC"), msg("output", "OUT1"), msg("output", "OUT2")}},
	{"inputs_no_desc", []Message{
		msg("input", "IN1"), msg("output", "OUT1"), msg("input", "IN2"), msg("output", "OUT2"),
	}},
}

// show renders segments like the reference's examples: loss spans between
// § marks.
func show(segs []Segment) string { return ShowLoss(segs, "§", "§") }

func renderOrFatal(t *testing.T, f Format, msgs []Message, gen bool) []Segment {
	t.Helper()
	segs, err := f.Render(msgs, gen)
	if err != nil {
		t.Fatalf("%s: Render: %v", Describe(f), err)
	}
	return segs
}

// goldenText is the content of one golden file.
func goldenText(t *testing.T, f Format, p pattern) string {
	var b strings.Builder
	fmt.Fprintf(&b, "format: %s\npattern: %s\nmessages:\n", Describe(f), p.name)
	for _, m := range p.msgs {
		fmt.Fprintf(&b, "  %s %q\n", m.Role, m.Content)
	}
	for _, gen := range []bool{false, true} {
		segs := renderOrFatal(t, f, p.msgs, gen)
		fmt.Fprintf(&b, "\n=== startGeneration=%v\ntext: %q\nmarked (loss spans between §):\n%s\n--- end of marked text\nsegments (+ loss, - no loss):\n", gen, Text(segs), show(segs))
		for _, s := range segs {
			mark := "-"
			if s.Loss {
				mark = "+"
			}
			fmt.Fprintf(&b, "  %s %q\n", mark, s.Text)
		}
	}
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./format -run %s -update to create it)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs from the rendering (go test ./format -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestGoldenSpectrumColon(t *testing.T) {
	var fmts []Format
	for _, fam := range []Family{FamilyGemma3, FamilyChatML, FamilyLlama3} {
		s, err := NewSpectrum(fam)
		if err != nil {
			t.Fatal(err)
		}
		fmts = append(fmts, s)
	}
	fmts = append(fmts, NewColon())
	for _, f := range fmts {
		for _, p := range patterns {
			name := f.Name()
			if s, ok := f.(*Spectrum); ok {
				name += "-" + string(s.Family())
			}
			name += "-" + p.name
			t.Run(name, func(t *testing.T) { checkGolden(t, name, goldenText(t, f, p)) })
		}
	}
}

// The rendered examples of reference §2.1/§2.2, copied verbatim (\n written
// as a Go escape); "..." marks the doc's elisions, which are compared as
// prefixes.
var referenceExamples = []struct {
	name   string
	family Family // FamilyNone: colon
	pat    int    // index in patterns
	gen    bool
	want   string
	prefix bool
}{
	{
		name: "Gemma, description + inputs, start_generation=True", family: FamilyGemma3, gen: true,
		pat:  0,
		want: "<start_of_turn>description\nDESC<end_of_turn>\n<start_of_turn>input\nIN1<end_of_turn>\n<start_of_turn>output\n§OUT1<end_of_turn>§\n<start_of_turn>input\nIN2<end_of_turn>\n<start_of_turn>output\n§OUT2<end_of_turn>§\n<start_of_turn>output\n",
	},
	{
		name: "Gemma, outputs only (no description) — first output unscored", family: FamilyGemma3, gen: true,
		pat:  1,
		want: "<start_of_turn>output\nOUT1<end_of_turn>\n<start_of_turn>output\n§OUT2<end_of_turn>§\n<start_of_turn>output\n",
	},
	{
		name: "Qwen3", family: FamilyChatML, gen: true, prefix: true,
		pat:  0,
		want: "<|im_start|>description\nDESC<|im_end|>\n<|im_start|>input\nIN1<|im_end|>\n<|im_start|>output\n§OUT1<|im_end|>§\n",
	},
	{
		name: "Llama-3.1", family: FamilyLlama3, gen: true, prefix: true,
		pat:  0,
		want: "<|start_header_id|>description<|end_header_id|>\n\nDESC<|eot_id|><|start_header_id|>input<|end_header_id|>\n\nIN1<|eot_id|><|start_header_id|>output<|end_header_id|>\n\n§OUT1<|eot_id|>§<|start_header_id|>input<|end_header_id|>\n\n",
	},
	{
		name: "colon", gen: true,
		pat:  0,
		want: "Description: DESC\n\nInput: IN1\n\nOutput:§ OUT1\n\n§Input: IN2\n\nOutput:§ OUT2\n\n§Output:",
	},
}

func TestReferenceExamples(t *testing.T) {
	for _, ex := range referenceExamples {
		t.Run(ex.name, func(t *testing.T) {
			var f Format = NewColon()
			if ex.family != FamilyNone {
				s, err := NewSpectrum(ex.family)
				if err != nil {
					t.Fatal(err)
				}
				f = s
			}
			p := patterns[ex.pat]
			got := show(renderOrFatal(t, f, p.msgs, ex.gen))
			if ex.prefix {
				if !strings.HasPrefix(got, ex.want) {
					t.Errorf("got\n%q\nwant a string starting with\n%q", got, ex.want)
				}
			} else if got != ex.want {
				t.Errorf("got\n%q\nwant\n%q", got, ex.want)
			}
			// The golden file of the same case holds the same marked text.
			name := f.Name()
			if s, ok := f.(*Spectrum); ok {
				name += "-" + string(s.Family())
			}
			name += "-" + p.name
			golden, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(golden), "\n"+got+"\n--- end of marked text") {
				t.Errorf("testdata/%s.golden does not hold the reference string", name)
			}
		})
	}
}

// spectrumTable holds the strings of the reference's §2.1 tables.
var spectrumTable = map[Family]struct {
	desc, input          func(string) string
	outHeader, outEnd    string
	outSep, start, stop  string
	outSegmentsPerOutput int
}{
	FamilyGemma3: {
		desc:      func(d string) string { return "<start_of_turn>description\n" + d + "<end_of_turn>\n" },
		input:     func(i string) string { return "<start_of_turn>input\n" + i + "<end_of_turn>\n" },
		outHeader: "<start_of_turn>output\n", outEnd: "<end_of_turn>", outSep: "\n",
		start: "<start_of_turn>output\n", stop: "<end_of_turn>", outSegmentsPerOutput: 3,
	},
	FamilyChatML: {
		desc:      func(d string) string { return "<|im_start|>description\n" + d + "<|im_end|>\n" },
		input:     func(i string) string { return "<|im_start|>input\n" + i + "<|im_end|>\n" },
		outHeader: "<|im_start|>output\n", outEnd: "<|im_end|>", outSep: "\n",
		start: "<|im_start|>output\n", stop: "<|im_end|>", outSegmentsPerOutput: 3,
	},
	FamilyLlama3: {
		desc:      func(d string) string { return "<|start_header_id|>description<|end_header_id|>\n\n" + d + "<|eot_id|>" },
		input:     func(i string) string { return "<|start_header_id|>input<|end_header_id|>\n\n" + i + "<|eot_id|>" },
		outHeader: "<|start_header_id|>output<|end_header_id|>\n\n", outEnd: "<|eot_id|>", outSep: "",
		start: "<|start_header_id|>output<|end_header_id|>\n\n", stop: "<|eot_id|>", outSegmentsPerOutput: 2,
	},
}

// TestSpectrumSegmentsExact builds the expected segment lists from the
// reference's per-role tables and compares them segment by segment.
func TestSpectrumSegmentsExact(t *testing.T) {
	for fam, tab := range spectrumTable {
		f, err := NewSpectrum(fam)
		if err != nil {
			t.Fatal(err)
		}
		if f.StopString() != tab.stop {
			t.Errorf("%s: stop %q, want %q", fam, f.StopString(), tab.stop)
		}
		for _, p := range patterns {
			for _, gen := range []bool{false, true} {
				var want []Segment
				sawDesc, sawOut := false, false
				for _, m := range p.msgs {
					switch m.Role {
					case "description":
						sawDesc = true
						want = append(want, Segment{Text: tab.desc(m.Content)})
					case "input":
						want = append(want, Segment{Text: tab.input(m.Content)})
					case "output":
						loss := sawDesc || sawOut
						sawOut = true
						want = append(want, Segment{Text: tab.outHeader}, Segment{Text: m.Content + tab.outEnd, Loss: loss})
						if tab.outSegmentsPerOutput == 3 {
							want = append(want, Segment{Text: tab.outSep})
						}
					}
				}
				if gen {
					want = append(want, Segment{Text: tab.start})
				}
				got := renderOrFatal(t, f, p.msgs, gen)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s %s gen=%v:\ngot  %s\nwant %s", fam, p.name, gen, segsString(got), segsString(want))
				}
			}
		}
	}
}

func TestColonSegmentsExact(t *testing.T) {
	f := NewColon()
	if f.StopString() != "\n" {
		t.Errorf("colon stop %q", f.StopString())
	}
	msgs := []Message{
		msg("description", " D "), msg("input", " I "), msg("output", " \t O  x\n"),
		msg("output", "\x1fP\u00a0"), msg("rationale", "r"), msg("oTHER role", "z"),
	}
	want := []Segment{
		{Text: "Description:  D \n\n"}, {Text: "Input:  I \n\n"},
		{Text: "Output:"}, {Text: " O  x\n\n", Loss: true},
		{Text: "Output:"}, {Text: " P\n\n", Loss: true},
		{Text: "Rationale: r\n\n"}, {Text: "Other role: z\n\n"},
		{Text: "Output:"},
	}
	got := renderOrFatal(t, f, msgs, true)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %s\nwant %s", segsString(got), segsString(want))
	}
	// Every output is scored, the first one too (no first-output rule).
	got = renderOrFatal(t, f, []Message{msg("output", "a")}, false)
	if len(got) != 2 || !got[1].Loss {
		t.Errorf("first output of a row without description not scored: %s", segsString(got))
	}
}

func TestSpectrumFirstOutputRule(t *testing.T) {
	f, _ := NewSpectrum(FamilyGemma3)
	// Only a description *preceding* the first output makes it scored.
	segs := renderOrFatal(t, f, []Message{msg("input", "i"), msg("output", "a"), msg("output", "b")}, false)
	var scored []string
	for _, s := range segs {
		if s.Loss {
			scored = append(scored, s.Text)
		}
	}
	if fmt.Sprint(scored) != "[b<end_of_turn>]" {
		t.Errorf("scored %q", scored)
	}
}

func TestRenderErrors(t *testing.T) {
	if _, err := NewSpectrum(FamilyPhi3); err == nil {
		t.Error("spectrum for phi3: no error")
	}
	if _, err := NewSpectrum(FamilyNone); err == nil {
		t.Error("spectrum without family: no error")
	}
	f, _ := NewSpectrum(FamilyChatML)
	if _, err := f.Render([]Message{{Content: "x"}}, false); err == nil {
		t.Error("empty role: no error")
	}
	if _, err := ForFamily("bogus", "gemma3"); err == nil || !strings.Contains(err.Error(), "auto, spectrum, colon, chat") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := ForFamily("spectrum", "mystery"); err == nil {
		t.Error("unknown family: no error")
	}
}

func TestForFamily(t *testing.T) {
	for _, c := range []struct{ name, family, want string }{
		{"auto", "gemma3", "spectrum (gemma3)"},
		{"auto", "qwen3", "spectrum (chatml)"},
		{"auto", "llama3", "spectrum (llama3)"},
		{"auto", "phi3", "colon"},
		{"auto", "", "colon"},
		{"colon", "gemma3", "colon"},
		{"spectrum", "chatml", "spectrum (chatml)"},
		{"chat", "gemma3", "chat (gemma3 template)"},
		{"chat", "phi3", "chat (phi3 template)"},
	} {
		f, err := ForFamily(c.name, c.family)
		if err != nil {
			t.Errorf("ForFamily(%q, %q): %v", c.name, c.family, err)
			continue
		}
		if got := Describe(f); got != c.want {
			t.Errorf("ForFamily(%q, %q) = %s, want %s", c.name, c.family, got, c.want)
		}
	}
}

func TestPyStrip(t *testing.T) {
	for in, want := range map[string]string{
		"  a b \n": "a b", "\x1c\x1d\x1e\x1fa\u0085\u00a0\u2028\u3000": "a", "": "", "\u200b": "\u200b",
	} {
		if got := pyStrip(in); got != want {
			t.Errorf("pyStrip(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"rationale": "Rationale", "oTHER": "Other", "": "", "éA": "Éa"} {
		if got := pyCapitalize(in); got != want {
			t.Errorf("pyCapitalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func segsString(segs []Segment) string {
	var b strings.Builder
	for _, s := range segs {
		if s.Loss {
			b.WriteString("+")
		}
		fmt.Fprintf(&b, "%q ", s.Text)
	}
	return b.String()
}
