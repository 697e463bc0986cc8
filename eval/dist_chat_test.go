package eval

import (
	"testing"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/suite"
)

// The chat format's distributional prompt goes through
// format.Chat.RenderConversation: the family mapping (Qwen3's empty think
// block after the generation prompt) applies, as in training.
func TestDistPromptChat(t *testing.T) {
	row := &suite.Row{Messages: []suite.Message{{Role: suite.RoleDescription, Content: "D"}, {Role: suite.RoleInput, Content: "I"}}}
	noDesc := &suite.Row{Messages: []suite.Message{{Role: suite.RoleInput, Content: "I"}}}
	for _, c := range []struct {
		fam  format.Family
		row  *suite.Row
		want string
	}{
		{format.FamilyChatML, row, "<|im_start|>system\n" + DistChatPrompt + "\n\nDescription: D<|im_end|>\n<|im_start|>user\nI<|im_end|>\n" +
			"<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{format.FamilyChatML, noDesc, "<|im_start|>system\n" + DistChatPrompt + "\n\nExample Input: I<|im_end|>\n<|im_start|>user\n<|im_end|>\n" +
			"<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{format.FamilyGemma3, row, "<start_of_turn>user\n" + DistChatPrompt + "\n\nDescription: D\n\nI<end_of_turn>\n<start_of_turn>model\n"},
	} {
		f, err := format.NewChat(c.fam, "")
		if err != nil {
			t.Fatal(err)
		}
		got, prefix, err := DistPrompt(f, c.row, "")
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want || prefix != "" {
			t.Errorf("%s:\ngot  %q (prefix %q)\nwant %q", c.fam, got, prefix, c.want)
		}
	}
}
