package format

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// templated is a fake model with a chat template.
type templated struct {
	*fakeTok
	tmpl string
}

func (m templated) ChatTemplate() string { return m.tmpl }

// The chat templates of SmolLM2-135M-Instruct (its GGUF's) and a
// Qwen3-style one that reads enable_thinking.
const (
	smolTemplate  = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
	thinkTemplate = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\n\n</think>\n\n' }}{% endif %}{% endif %}"
)

func chatmlFake() *fakeTok {
	return &fakeTok{specials: []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}, bos: 1, eos: 2}
}

// TestChatJinja: a model's own template is rendered by Jinja as
// apply_chat_template does, with the reference's chat conversion; the loss
// spans follow the family's rules.
func TestChatJinja(t *testing.T) {
	f, err := ForModel(NameChat, FamilyNone, templated{chatmlFake(), smolTemplate})
	if err != nil {
		t.Fatal(err)
	}
	c := f.(*Chat)
	if c.Renderer() != RendererJinja || c.Family() != FamilyChatML || Describe(f) != "chat (chatml template, jinja)" {
		t.Fatalf("renderer %s, family %s, %s", c.Renderer(), c.Family(), Describe(f))
	}
	segs, err := f.Render([]Message{msg("description", "D"), msg("output", "O1"), msg("output", "O2")}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>system\n" + pyStrip(DefaultChatPrompt+"\n\nDescription: D") + "<|im_end|>\n" +
		"<|im_start|>user\nGenerate<|im_end|>\n<|im_start|>assistant\nO1<|im_end|>\n" +
		"<|im_start|>user\nGenerate<|im_end|>\n<|im_start|>assistant\nO2<|im_end|>\n" +
		"<|im_start|>user\nGenerate.<|im_end|>\n<|im_start|>assistant\n"
	if got := Text(segs); got != want {
		t.Errorf("text\n%q\nwant\n%q", got, want)
	}
	if scored := scoredTexts(segs); !reflect.DeepEqual(scored, []string{"O1<|im_end|>", "O2<|im_end|>"}) {
		t.Errorf("scored %q", scored)
	}
	// A template that reads enable_thinking gets it false (and then the
	// reference's Qwen3 rule puts an empty think block after every
	// assistant header).
	f, err = ForModel(NameChat, FamilyNone, templated{chatmlFake(), thinkTemplate})
	if err != nil {
		t.Fatal(err)
	}
	segs, _ = f.Render([]Message{msg("output", "O0"), msg("output", "O1")}, true)
	if n := strings.Count(Text(segs), "<|im_start|>assistant\n<think>\n\n</think>\n\n"); n != 2 {
		t.Errorf("think blocks: %d in %q", n, Text(segs))
	}
	// A template Jinja cannot compile falls back to llama.cpp's renderer,
	// which recognises this one (a ChatML text) by its markers.
	broken := "{% for m in messages %}<|im_start|>{{ m.role }\n{% endfor %}"
	f, err = ForModel(NameChat, FamilyNone, templated{chatmlFake(), broken})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.(*Chat); c.Renderer() != RendererLlama || c.JinjaError() == nil || !strings.Contains(c.JinjaError().Error(), "jinja") {
		t.Errorf("broken template: renderer %s, %v", c.Renderer(), c.JinjaError())
	}
}

// TestChatJinjaBOS: a leading bos_token the template writes is dropped
// when the tokenizer adds a BOS itself (one BOS per row), and kept when it
// does not.
func TestChatJinjaBOS(t *testing.T) {
	tmpl := "{{ bos_token }}" + smolTemplate
	for _, add := range []bool{true, false} {
		tk := chatmlFake()
		tk.addBOS = add
		out, err := jinjaApply(tk)(tmpl, []ChatMessage{{Role: ChatSystem, Content: "S"}}, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.HasPrefix(out, "<|im_start|><|im_start|>system"); got == add {
			t.Errorf("adds BOS %v: %q", add, out)
		}
	}
}

// TestPhi3DropsSystem: Phi-3's template discards system messages, so the
// chat format keeps llama.cpp's phi3 layout (which renders them) and says
// why.
func TestPhi3DropsSystem(t *testing.T) {
	m := loadVocab(t, "vocab/ggml-vocab-phi-3.gguf")
	f, err := ForModel(NameChat, FamilyNone, m)
	if err != nil {
		t.Fatal(err)
	}
	if c := f.(*Chat); c.Renderer() != RendererLlama || !errors.Is(c.JinjaError(), errDropsSystem) {
		t.Errorf("renderer %s, %v", c.Renderer(), c.JinjaError())
	}
	out, err := RenderChatTemplate(m, m.ChatTemplate(), []ChatMessage{{Role: ChatSystem, Content: "S"}, {Role: ChatUser, Content: "U"}}, true)
	if err != nil || out != "<s><|user|>\nU<|end|>\n<|assistant|>\n" {
		t.Errorf("phi-3 template: %q %v", out, err)
	}
}
