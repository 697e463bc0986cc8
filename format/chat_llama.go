package format

import "github.com/spectrumkit/spectrum/llama"

// llamaApplyTemplate renders with llama.cpp's llama_chat_apply_template.
func llamaApplyTemplate(tmpl string, msgs []ChatMessage, addAssistant bool) (string, error) {
	lm := make([]llama.ChatMessage, len(msgs))
	for i, m := range msgs {
		lm[i] = llama.ChatMessage{Role: m.Role, Content: m.Content}
	}
	return llama.ApplyChatTemplate(tmpl, lm, addAssistant)
}
