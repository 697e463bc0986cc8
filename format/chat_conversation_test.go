package format

import (
	"reflect"
	"strings"
	"testing"
)

// Render is ChatConversation followed by RenderConversation, for every
// family and message pattern.
func TestChatRenderConversationMatchesRender(t *testing.T) {
	for _, fam := range Families() {
		f, err := NewChat(fam, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range patterns {
			for _, gen := range []bool{false, true} {
				conv, err := ChatConversation(p.msgs, gen)
				if err != nil {
					t.Fatal(err)
				}
				got, err := f.RenderConversation(conv, gen)
				if err != nil {
					t.Fatal(err)
				}
				if want := renderOrFatal(t, f, p.msgs, gen); !reflect.DeepEqual(got, want) {
					t.Errorf("%s %s gen=%v:\nRenderConversation %q\nRender             %q", fam, p.name, gen, show(got), show(want))
				}
			}
		}
	}
}

// An arbitrary conversation gets the family's mapping and loss spans.
func TestChatRenderConversationArbitrary(t *testing.T) {
	c, err := newChat(FamilyNone, fakeQwen3, fakeApply)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := c.RenderConversation([]ChatMessage{
		{Role: ChatSystem, Content: "S"}, {Role: ChatUser, Content: "U"},
		{Role: ChatAssistant, Content: "O1"}, {Role: ChatUser, Content: "again"},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	const think = "<|im_start|>assistant\n<think>\n\n</think>\n\n"
	want := "<bos><|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n" +
		think + "§O1<|im_end|>§\n<|im_start|>user\nagain<|im_end|>\n" + think
	if got := show(segs); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	g, err := NewChat(FamilyGemma3, "")
	if err != nil {
		t.Fatal(err)
	}
	segs, err = g.RenderConversation([]ChatMessage{{Role: ChatSystem, Content: "S"}, {Role: ChatUser, Content: "U"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := show(segs); got != "<start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\n" {
		t.Errorf("gemma prompt %q", got)
	}

	for _, bad := range [][]ChatMessage{nil, {{Role: "tool", Content: "x"}}} {
		if _, err := c.RenderConversation(bad, true); err == nil || !strings.Contains(err.Error(), "format: chat:") {
			t.Errorf("%v: error %v", bad, err)
		}
	}
}
