package format

import (
	"reflect"
	"strings"
	"testing"
)

func TestDefaultChatPrompt(t *testing.T) {
	p := DefaultChatPrompt
	if !strings.HasPrefix(p, "You are tasked with generating outputs from a particular, potentially stochastic, generative process. You will be given some combination of:\n- Description: ") {
		t.Errorf("prompt starts %q", p[:120])
	}
	if !strings.HasSuffix(p, "or will just be told to \"Generate\".\n") || strings.HasSuffix(p, "\n\n") {
		t.Errorf("prompt must end with a single newline after \"Generate\".: %q", p[len(p)-40:])
	}
	if len(p) != 1141 || strings.Count(p, "\n") != 7 || !strings.Contains(p, "example output.\n\nGiven these components") {
		t.Errorf("prompt: %d bytes, %d newlines", len(p), strings.Count(p, "\n"))
	}
}

func sys(rest string) ChatMessage {
	return ChatMessage{Role: "system", Content: DefaultChatPrompt + rest}
}
func user(s string) ChatMessage      { return ChatMessage{Role: "user", Content: s} }
func assistant(s string) ChatMessage { return ChatMessage{Role: "assistant", Content: s} }

func TestChatConversation(t *testing.T) {
	cases := []struct {
		name string
		msgs []Message
		gen  bool
		want []ChatMessage
	}{
		// The three conversations of reference §2.3.
		{"desc+inputs", patterns[0].msgs, false, []ChatMessage{
			sys("\n\nDescription: DESC"), user("IN1"), assistant("OUT1"), user("IN2"), assistant("OUT2"),
		}},
		{"outputs only", []Message{msg("output", "O1"), msg("output", "O2"), msg("output", "O3")}, false, []ChatMessage{
			sys("\n\nExample Output: O1"), user("Generate"), assistant("O2"), user("Generate"), assistant("O3"),
		}},
		{"no desc, inputs", []Message{msg("input", "I1"), msg("output", "O1"), msg("input", "I2"), msg("output", "O2")}, false, []ChatMessage{
			sys("\n\nExample Input: I1\n\nExample Output: O1"), user("I2"), assistant("O2"),
		}},
		// The generation tail: "Generate." after a final assistant turn.
		{"desc+outputs gen", patterns[2].msgs, true, []ChatMessage{
			sys("\n\nDescription: DESC"), user("Generate"), assistant("OUT1"), user("Generate"), assistant("OUT2"), user("Generate."),
		}},
		{"desc+inputs, next input, gen", append(append([]Message{}, patterns[0].msgs...), msg("input", "IN3")), true, []ChatMessage{
			sys("\n\nDescription: DESC"), user("IN1"), assistant("OUT1"), user("IN2"), assistant("OUT2"), user("IN3"),
		}},
		// Only a system message: an empty user turn follows.
		{"description only", []Message{msg("description", " DESC \n")}, true, []ChatMessage{
			sys("\n\nDescription:  DESC"), user(""),
		}},
		{"one output", []Message{msg("output", "O1")}, true, []ChatMessage{
			sys("\n\nExample Output: O1"), user(""),
		}},
		{"nothing", nil, false, []ChatMessage{{Role: "system", Content: strings.TrimSpace(DefaultChatPrompt)}, user("")}},
	}
	for _, c := range cases {
		got, err := ChatConversation(c.msgs, c.gen)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		// The system message is strip()ped.
		want := append([]ChatMessage(nil), c.want...)
		want[0].Content = pyStrip(want[0].Content)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngot  %q\nwant %q", c.name, got, want)
		}
	}
	// The system text of a description reads `"Generate".\n\n\nDescription: D`.
	got, _ := ChatConversation(patterns[0].msgs, false)
	if !strings.HasSuffix(got[0].Content, "told to \"Generate\".\n\n\nDescription: DESC") {
		t.Errorf("system ends %q", got[0].Content[len(got[0].Content)-60:])
	}
	for _, bad := range [][]Message{
		{msg("input", "i"), msg("description", "d")},
		{msg("description", "d"), msg("rationale", "r")},
	} {
		if _, err := ChatConversation(bad, false); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestSplitLossSpans(t *testing.T) {
	got := splitLossSpans("aSxEbSyEcS", "S", "E")
	want := []Segment{{Text: "aS"}, {Text: "xE", Loss: true}, {Text: "bS"}, {Text: "yE", Loss: true}, {Text: "cS"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s", segsString(got))
	}
	if got := splitLossSpans("SE", "S", "E"); !reflect.DeepEqual(got, []Segment{{Text: "S"}, {Text: "E", Loss: true}}) {
		t.Errorf("got %s", segsString(got))
	}
}

// fakeApply renders like llama.cpp's chatml template but with the extras a
// real Jinja template may add: a literal <bos> and think blocks.
func fakeApply(tmpl string, msgs []ChatMessage, add bool) (string, error) {
	var b strings.Builder
	b.WriteString("<bos>")
	for _, m := range msgs {
		b.WriteString("<|im_start|>" + m.Role + "\n")
		if m.Role == "assistant" && m.Content == "O1" {
			b.WriteString("<think>\n\n</think>\n\n")
		}
		b.WriteString(m.Content + "<|im_end|>\n")
	}
	if add {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String(), nil
}

// fakeQwen3 stands for Qwen3's template text, which mentions <think>.
const fakeQwen3 = "fake {{ '<think>' }}"

func TestChatQwenThinkMapping(t *testing.T) {
	c, err := newChat(FamilyNone, fakeQwen3, fakeApply)
	if err != nil {
		t.Fatal(err)
	}
	if c.Family() != FamilyChatML || c.StopString() != "<|im_end|>" {
		t.Fatalf("family %s stop %q", c.Family(), c.StopString())
	}
	segs, err := c.Render([]Message{msg("output", "O0"), msg("output", "O1"), msg("output", "O2")}, true)
	if err != nil {
		t.Fatal(err)
	}
	text := Text(segs)
	// Exactly one empty think block after every assistant header, even
	// where the template already wrote one; <bos> is kept (chatml mapping).
	if n := strings.Count(text, "<|im_start|>assistant\n<think>\n\n</think>\n\n"); n != 3 || strings.Count(text, "<think>") != 3 {
		t.Errorf("think blocks: %d in %q", n, text)
	}
	if scored := scoredTexts(segs); !reflect.DeepEqual(scored, []string{"O1<|im_end|>", "O2<|im_end|>"}) {
		t.Errorf("scored %q", scored)
	}
}

// TestChatMLWithoutThinking: a model's own ChatML template that never
// writes a think block (SmolLM2's, Qwen2.5's) gets none inserted, and its
// loss spans start right after the assistant header; the built-in "chatml"
// (a model without a template) keeps the reference's Qwen3 rule.
func TestChatMLWithoutThinking(t *testing.T) {
	const smol = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
	c, err := NewChat(FamilyNone, smol)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := c.Render([]Message{msg("output", "O0"), msg("output", "O1"), msg("output", "O2")}, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Family() != FamilyChatML || strings.Contains(Text(segs), "<think>") || !strings.HasSuffix(Text(segs), "<|im_start|>assistant\n") {
		t.Errorf("family %s, text %q", c.Family(), Text(segs))
	}
	if scored := scoredTexts(segs); !reflect.DeepEqual(scored, []string{"O1<|im_end|>", "O2<|im_end|>"}) {
		t.Errorf("scored %q", scored)
	}
	b, err := NewChat(FamilyChatML, "")
	if err != nil {
		t.Fatal(err)
	}
	if segs, err = b.Render([]Message{msg("output", "O0"), msg("output", "O1")}, true); err != nil || strings.Count(Text(segs), "<think>") != 2 {
		t.Errorf("built-in chatml: %v, %q", err, Text(segs))
	}
}

func TestChatGemmaDropsBOS(t *testing.T) {
	apply := func(tmpl string, msgs []ChatMessage, add bool) (string, error) {
		s, err := llamaApplyTemplate("gemma", msgs, add)
		return "<bos>" + s, err
	}
	c, err := newChat(FamilyNone, "x", apply)
	if err != nil {
		t.Fatal(err)
	}
	segs, _ := c.Render(patterns[2].msgs, false)
	if c.Family() != FamilyGemma3 || strings.Contains(Text(segs), "<bos>") || !strings.HasPrefix(Text(segs), "<start_of_turn>user\n") {
		t.Errorf("%s: %q", c.Family(), Text(segs))
	}
}

func TestChatUnsupportedTemplate(t *testing.T) {
	if _, err := NewChat(FamilyNone, "{% for m in messages %}{{ m.content }}{% endfor %}"); err == nil {
		t.Error("unknown template: no error")
	}
	if _, err := NewChat(FamilyNone, "mistral-v7"); err == nil || !strings.Contains(err.Error(), "not a gemma, chatml, llama3 or phi3") {
		t.Errorf("mistral-v7: %v", err)
	}
	if _, err := NewChat(FamilyNone, ""); err == nil {
		t.Error("no template, no family: no error")
	}
}

// TestChatBuiltinExact compares the chat rendering through llama.cpp's
// built-in templates with strings written out by hand from §2.3 and the
// templates' layout.
func TestChatBuiltinExact(t *testing.T) {
	system := pyStrip(DefaultChatPrompt + "\n\nDescription: DESC")
	cases := []struct {
		tmpl string
		want string // desc+inputs+outputs, startGeneration
	}{
		{"gemma", "<start_of_turn>user\n" + system + "\n\nIN1<end_of_turn>\n<start_of_turn>model\n§OUT1<end_of_turn>§\n" +
			"<start_of_turn>user\nIN2<end_of_turn>\n<start_of_turn>model\n§OUT2<end_of_turn>§\n" +
			"<start_of_turn>user\nGenerate.<end_of_turn>\n<start_of_turn>model\n"},
		{"chatml", "<|im_start|>system\n" + system + "<|im_end|>\n<|im_start|>user\nIN1<|im_end|>\n" +
			"<|im_start|>assistant\n<think>\n\n</think>\n\n§OUT1<|im_end|>§\n<|im_start|>user\nIN2<|im_end|>\n" +
			"<|im_start|>assistant\n<think>\n\n</think>\n\n§OUT2<|im_end|>§\n<|im_start|>user\nGenerate.<|im_end|>\n" +
			"<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{"llama3", "<|start_header_id|>system<|end_header_id|>\n\n" + system + "<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nIN1<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n§OUT1<|eot_id|>§" +
			"<|start_header_id|>user<|end_header_id|>\n\nIN2<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n§OUT2<|eot_id|>§" +
			"<|start_header_id|>user<|end_header_id|>\n\nGenerate.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		{"phi3", "<|system|>\n" + system + "<|end|>\n<|user|>\nIN1<|end|>\n<|assistant|>\n§OUT1<|end|>§\n" +
			"<|user|>\nIN2<|end|>\n<|assistant|>\n§OUT2<|end|>§\n<|user|>\nGenerate.<|end|>\n<|assistant|>\n"},
	}
	for _, c := range cases {
		f, err := NewChat(FamilyNone, c.tmpl)
		if err != nil {
			t.Errorf("%s: %v", c.tmpl, err)
			continue
		}
		if got := show(renderOrFatal(t, f, patterns[0].msgs, true)); got != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", c.tmpl, got, c.want)
		}
		// Without the generation tail: the same up to the last loss span.
		want := c.want[:strings.LastIndex(c.want, "§")+len("§")]
		if c.tmpl != "llama3" {
			want += "\n"
		}
		if got := show(renderOrFatal(t, f, patterns[0].msgs, false)); got != want {
			t.Errorf("%s, no generation:\ngot  %q\nwant %q", c.tmpl, got, want)
		}
	}
}

// Gemma's template trims message contents, so the loss span is the trimmed
// output plus <end_of_turn>.
func TestChatGemmaTrim(t *testing.T) {
	f, err := NewChat(FamilyGemma3, "")
	if err != nil {
		t.Fatal(err)
	}
	segs := renderOrFatal(t, f, []Message{msg("description", "D"), msg("output", "  padded \n")}, false)
	if got := segs[1]; !got.Loss || got.Text != "padded<end_of_turn>" {
		t.Errorf("loss segment %q %v", got.Text, got.Loss)
	}
}

func TestGoldenChat(t *testing.T) {
	for _, fam := range Families() {
		f, err := NewChat(fam, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range patterns {
			name := "chat-" + string(fam) + "-" + p.name
			t.Run(name, func(t *testing.T) { checkGolden(t, name, goldenText(t, f, p)) })
		}
	}
}
