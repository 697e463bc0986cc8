package format

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/models/synth"
)

// synthCase is a small synthetic model whose vocabulary holds a family's
// turn tokens as special tokens.
type synthCase struct {
	family Family
	arch   string
	vocab  string // VocabFrom under shared/models; "" for synth's SPM vocabulary
	eos    string // EOS token text; "" keeps the vocabulary's
	tmpl   string // chat template written to the GGUF
}

var synthCases = []synthCase{
	// Gemma-3-like: SPM vocabulary, BOS added, EOS a plain </s>.
	{family: FamilyGemma3, arch: "gemma3"},
	// Qwen3-like: byte-level BPE (GPT-2's), no BOS added, EOS <|endoftext|>,
	// and a Jinja chat template llama.cpp recognises as chatml.
	{family: FamilyChatML, arch: "qwen3", vocab: "vocab/ggml-vocab-gpt-2.gguf",
		tmpl: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"},
	// Llama-3-instruct-like: EOS is the turn end <|eot_id|>.
	{family: FamilyLlama3, arch: "llama", vocab: "vocab/ggml-vocab-gpt-2.gguf", eos: "<|eot_id|>"},
}

func writeSynth(t *testing.T, c synthCase) string {
	t.Helper()
	cfg, err := synth.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Arch = c.arch
	cfg.NLayer, cfg.NEmbd, cfg.NHead, cfg.NHeadKV, cfg.NFF, cfg.HeadDim = 1, 16, 2, 1, 32, 0
	cfg.TiedOutput = true
	cfg.NVocab = 0
	if c.vocab != "" {
		cfg.VocabFrom = filepath.Join(sharedModels, c.vocab)
	}
	cfg.ExtraSpecialTokens = c.family.TurnTokens()
	cfg.EOS = c.eos
	cfg.ChatTemplate = c.tmpl
	path := filepath.Join(t.TempDir(), string(c.family)+".gguf")
	if err := synth.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSynthFamilies(t *testing.T) {
	for _, c := range synthCases {
		t.Run(string(c.family), func(t *testing.T) {
			path := writeSynth(t, c)
			info, err := models.ReadInfo(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Family != c.family {
				t.Fatalf("models detects family %q", info.Family)
			}
			m, err := llama.LoadModel(path, llama.ModelParams{VocabOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if c.family == FamilyChatML && m.AddBOS() {
				t.Errorf("BPE vocabulary adds BOS")
			}
			t.Logf("BOS %d (add %v) EOS %d %q", m.BOS(), m.AddBOS(), m.EOS(), m.TokenToPiece(m.EOS()))

			f, err := ForModel("auto", info.Family, m)
			if err != nil || Describe(f) != "spectrum ("+string(c.family)+")" {
				t.Fatalf("auto: %v %v", f, err)
			}
			endTok, ok := singleToken(m, f.StopString())
			if !ok {
				t.Fatalf("stop string %q is not one token", f.StopString())
			}
			eosIsTurnEnd := m.EOS() == endTok
			chat, err := ForModel("chat", info.Family, m)
			if err != nil {
				t.Fatalf("chat: %v", err)
			}
			if chat.StopString() != f.StopString() {
				t.Errorf("chat stop %q, spectrum stop %q", chat.StopString(), f.StopString())
			}
			for _, ff := range []Format{f, chat, NewColon()} {
				for _, p := range patterns {
					for _, gen := range []bool{false, true} {
						t.Run(fmt.Sprintf("%s/%s/gen=%v", ff.Name(), p.name, gen), func(t *testing.T) {
							segs, row, err := RenderTokens(ff, m, p.msgs, gen)
							if err != nil {
								t.Fatal(err)
							}
							checkRowTurnEOS(t, m, segs, row, gen, eosIsTurnEnd)
							// Every scored run of spectrum and chat ends with
							// the single end token.
							if ff.Name() != NameColon {
								for k, id := range row.IDs {
									if row.Loss[k] && (k+1 == len(row.IDs) || !row.Loss[k+1]) && id != endTok {
										t.Errorf("scored run ends with %d %q at %d, want the end token %d", id, m.TokenToPiece(id), k, endTok)
									}
								}
							}
							want := 2
							if ff.Name() != NameColon && (p.name == "outputs_only" || p.name == "inputs_no_desc") {
								want = 1 // first output unscored without description
							}
							if row.NumExamples() != want {
								t.Errorf("%d examples, want %d", row.NumExamples(), want)
							}
						})
					}
				}
			}
		})
	}
}

// checkRowTurnEOS is checkRow for vocabularies whose EOS may be the turn end:
// then the EOS stays inside segments and is appended only when the row does
// not already end with it.
func checkRowTurnEOS(t *testing.T, tk Tokenizer, segs []Segment, row Tokens, prompt, eosIsTurnEnd bool) {
	t.Helper()
	if !eosIsTurnEnd {
		checkRow(t, tk, segs, row, prompt)
		return
	}
	var ids []int32
	if tk.AddBOS() {
		ids = append(ids, tk.BOS())
	}
	for _, s := range segs {
		seg, _ := tk.Tokenize(s.Text, false, true)
		ids = append(ids, seg...)
	}
	if !prompt && ids[len(ids)-1] != tk.EOS() {
		ids = append(ids, tk.EOS())
	}
	if !reflect.DeepEqual(row.IDs, ids) {
		t.Errorf("row %v\nwant %v", row.IDs, ids)
	}
	text := Text(segs)
	if !prompt && !strings.HasSuffix(text, "\n") && !strings.HasSuffix(text, "<|eot_id|>") {
		t.Errorf("unexpected row end %q", text[len(text)-10:])
	}
}
