package format

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultChatPrompt is the reference's default_chat_prompt (§2.3), verbatim.
// It ends with a single "\n", so a system message with a description reads
// "…told to \"Generate\".\n\n\nDescription: …".
const DefaultChatPrompt = "" +
	"You are tasked with generating outputs from a particular, potentially stochastic, generative process. You will be given some combination of:\n" +
	"- Description: A natural description of the generative process / data distribution\n" +
	"- Input: An input on which to condition the generative process.\n" +
	"- Example outputs: Example outputs from the process, either in a user message or as prior generations from a chat message. You may assume that any given outputs are exchangeable with one another (order-invariant) and generated from the same process (roughly i.i.d.). If the output data pertains to a single object, it just contains the output. If it contains multiple objects, use json formatting with keys for the name of the output variable.\n" +
	"You will be provided at least either a description or an example output.\n" +
	"\n" +
	"Given these components, your job is to generate JUST the output in your response, roughly approximating the underlying generative process, maintaining any underlying stochasticity (if any is present). If you are asked to generate again, you will either be given an additional input to condition on, or will just be told to \"Generate\".\n"

// Strings of the reference's chat conversion (§2.3).
const (
	chatDelim              = "\n\n"
	chatDescriptionPrefix  = "Description: "
	chatExampleInputPrefix = "Example Input: "
	chatExampleOutPrefix   = "Example Output: "
	chatGenerateBetween    = "Generate"  // before each assistant turn of a task without inputs
	chatDefaultUserMessage = "Generate." // default_user_message, asked after a final assistant turn
)

// Chat roles.
const (
	ChatSystem    = "system"
	ChatUser      = "user"
	ChatAssistant = "assistant"
)

// ChatMessage is one turn of a system/user/assistant conversation.
type ChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatConversation converts Spectrum messages into the chat conversation of
// the reference's messages_to_chat_loss_texts (mode
// all_examples_in_prompt=False, used for training and the steerability
// eval):
//
//  1. a description makes the system message
//     strip(DefaultChatPrompt + "\n\n" + "Description: " + D), pushed at once;
//  2. an input before the system message is pushed is appended to the
//     system text as "\n\nExample Input: " + I; later inputs are user turns;
//  3. the first output of a row without description is appended to the
//     system text as "\n\nExample Output: " + O and the system message is
//     pushed (so it is context, not a target); every later output is an
//     assistant turn, preceded by a user turn "Generate" (no period) when the
//     row has no input at all;
//  4. a system message not pushed by then (no description and no output) is
//     pushed at the end; if it is the only message, an empty user turn
//     follows; with startGeneration and an assistant turn last, a final user
//     turn "Generate." is appended.
//
// The description must be the first message; roles other than description,
// input and output are an error.
func ChatConversation(msgs []Message, startGeneration bool) ([]ChatMessage, error) {
	hasInputs := false
	for i, m := range msgs {
		switch m.Role {
		case RoleInput:
			hasInputs = true
		case RoleDescription:
			if i != 0 {
				return nil, fmt.Errorf("format: chat: the description must be the first message (found at %d)", i)
			}
		case RoleOutput:
		default:
			return nil, fmt.Errorf("format: chat: message %d has role %q; want description, input or output", i, m.Role)
		}
	}
	chat := make([]ChatMessage, 0, 2*len(msgs)+2)
	system := DefaultChatPrompt
	pushed := false
	push := func() {
		chat = append(chat, ChatMessage{Role: ChatSystem, Content: pyStrip(system)})
		pushed = true
	}
	for _, m := range msgs {
		switch m.Role {
		case RoleDescription:
			system = DefaultChatPrompt + chatDelim + chatDescriptionPrefix + m.Content
			push()
		case RoleInput:
			if !pushed {
				system += chatDelim + chatExampleInputPrefix + m.Content
			} else {
				chat = append(chat, ChatMessage{Role: ChatUser, Content: m.Content})
			}
		case RoleOutput:
			if !pushed {
				system += chatDelim + chatExampleOutPrefix + m.Content
				push()
				continue
			}
			if !hasInputs {
				chat = append(chat, ChatMessage{Role: ChatUser, Content: chatGenerateBetween})
			}
			chat = append(chat, ChatMessage{Role: ChatAssistant, Content: m.Content})
		}
	}
	if !pushed {
		push()
	}
	if len(chat) == 1 {
		chat = append(chat, ChatMessage{Role: ChatUser, Content: ""})
	}
	if startGeneration && chat[len(chat)-1].Role == ChatAssistant {
		chat = append(chat, ChatMessage{Role: ChatUser, Content: chatDefaultUserMessage})
	}
	return chat, nil
}

// TemplateFunc renders a conversation with a chat template (a model's
// template text or a llama.cpp built-in template name), as
// llama_chat_apply_template does.
type TemplateFunc func(tmpl string, msgs []ChatMessage, addAssistant bool) (string, error)

// chatParams are one family's chat-format parameters (§2.3).
type chatParams struct {
	builtin    string // llama.cpp built-in template name
	rawStart   string // what the template writes before an assistant turn
	modelStart string // model_start_text: the loss span starts after it
	end        string // end_string: the loss span ends with it (included)
	mapping    func(string) string
	tokens     []string
}

const (
	qwenAssistant  = "<|im_start|>assistant\n"
	qwenEmptyThink = "<think>\n\n</think>\n\n"
)

var chatFamilies = map[Family]chatParams{
	FamilyGemma3: {
		builtin: "gemma", rawStart: "<start_of_turn>model\n",
		modelStart: "<start_of_turn>model\n", end: "<end_of_turn>",
		// the tokenizer adds BOS; drop a literal one from the template.
		mapping: func(s string) string { return strings.ReplaceAll(s, "<bos>", "") },
		tokens:  []string{"<start_of_turn>", "<end_of_turn>"},
	},
	FamilyChatML: {
		builtin: "chatml", rawStart: qwenAssistant,
		modelStart: qwenAssistant + qwenEmptyThink, end: "<|im_end|>",
		// Qwen3: normalise, then an empty think block after every assistant header.
		mapping: func(s string) string {
			s = strings.ReplaceAll(s, qwenAssistant+qwenEmptyThink, qwenAssistant)
			return strings.ReplaceAll(s, qwenAssistant, qwenAssistant+qwenEmptyThink)
		},
		tokens: []string{"<|im_start|>", "<|im_end|>"},
	},
	FamilyLlama3: {
		builtin: "llama3", rawStart: "<|start_header_id|>assistant<|end_header_id|>\n\n",
		modelStart: "<|start_header_id|>assistant<|end_header_id|>\n\n", end: "<|eot_id|>",
		tokens: []string{"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
	},
	// Not in the reference (which has no Phi-3 runs): llama.cpp's phi3 template.
	FamilyPhi3: {
		builtin: "phi3", rawStart: "<|assistant|>\n",
		modelStart: "<|assistant|>\n", end: "<|end|>",
		tokens: []string{"<|system|>", "<|user|>", "<|assistant|>", "<|end|>"},
	},
}

// Chat is the "chat" baseline format: the reference's conversion of the
// messages into a conversation, rendered with a chat template.
type Chat struct {
	family   Family
	template string
	p        chatParams
	apply    TemplateFunc
	renderer string // RendererJinja or RendererLlama
	fallback error  // why Jinja was not used for a model's own template
}

// Chat template renderers.
const (
	RendererJinja = "jinja"     // the model's template, run as apply_chat_template does
	RendererLlama = "llama.cpp" // llama_chat_apply_template: built-in layouts
)

// Renderer says what renders the template: RendererJinja or RendererLlama.
func (f *Chat) Renderer() string {
	if f.renderer == "" {
		return RendererLlama
	}
	return f.renderer
}

// JinjaError is why a model's own template is rendered by llama.cpp rather
// than by Jinja (nil when Jinja renders it or the model has none).
func (f *Chat) JinjaError() error { return f.fallback }

// NewChat returns the chat format rendering with template tmpl: a model's
// chat template (llama.cpp recognises it by heuristics; it does not run
// Jinja) or a llama.cpp built-in template name such as "gemma", "chatml",
// "llama3" or "phi3". The template's family, which sets where the loss spans
// are, is found by rendering a probe conversation. With tmpl empty the
// family's built-in template is used.
//
// Differences from the reference, which runs the HF Jinja templates: llama.cpp
// renders its built-in layout of the recognised family, so a Llama-3.1
// template's "Cutting Knowledge Date/Today Date" system preamble and its
// <|begin_of_text|> text are not written (the tokenizer adds BOS once), and
// Gemma and Llama-3 contents are trimmed as those templates do.
func NewChat(family Family, tmpl string) (*Chat, error) {
	return newChat(family, tmpl, llamaApplyTemplate)
}

func newChat(family Family, tmpl string, apply TemplateFunc) (*Chat, error) {
	if apply == nil {
		return nil, errors.New("format: chat: no chat-template renderer (llama.cpp) available")
	}
	if tmpl == "" {
		p, ok := chatFamilies[family]
		if !ok {
			if family == FamilyNone {
				return nil, errors.New("format: chat: the model has no chat template and no known family")
			}
			return nil, fmt.Errorf("format: chat: no built-in chat template for family %q (have %v)", family, sortedKeys(chatFamilies))
		}
		tmpl = p.builtin
	}
	fam, err := detectChatFamily(tmpl, apply)
	if err != nil {
		return nil, err
	}
	p := chatFamilies[fam]
	if fam == FamilyChatML && tmpl != p.builtin && !strings.Contains(tmpl, "<think>") {
		p = chatMLPlain
	}
	return &Chat{family: fam, template: tmpl, p: p, apply: apply}, nil
}

// chatMLPlain is ChatML without Qwen3's thinking: a model's own ChatML
// template that never writes a think block (SmolLM2, Qwen2.5) gets none from
// us either. The reference's ChatML models are Qwen3, whose template writes
// an empty one after every assistant header; inserted into SmolLM2's turns
// it is text the model never saw there (issue 20 measured an empty first
// line in 39 of 40 samples; here, states from a description and two
// examples: 1 of 40 before, 0 after). Without a
// model template (the built-in "chatml"), the reference's Qwen3 rule stays.
var chatMLPlain = chatParams{
	builtin: "chatml", rawStart: qwenAssistant,
	modelStart: qwenAssistant, end: "<|im_end|>",
	tokens: []string{"<|im_start|>", "<|im_end|>"},
}

// probeConversation is rendered to tell which family a template is.
var probeConversation = []ChatMessage{
	{Role: ChatSystem, Content: "S"},
	{Role: ChatUser, Content: "U"},
	{Role: ChatAssistant, Content: "A"},
}

// detectChatFamily renders probeConversation with tmpl and returns the
// family whose assistant turns it writes.
func detectChatFamily(tmpl string, apply TemplateFunc) (Family, error) {
	out, err := apply(tmpl, probeConversation, true)
	if err != nil {
		return FamilyNone, fmt.Errorf("format: chat: %s: %w", describeTemplate(tmpl), err)
	}
	for _, fam := range Families() {
		p := chatFamilies[fam]
		// A template need not honour add_generation_prompt (Phi-3's writes
		// the assistant header after every user turn): the assistant turn's
		// layout identifies the family.
		if strings.Contains(out, p.rawStart+"A"+p.end) {
			return fam, nil
		}
	}
	return FamilyNone, fmt.Errorf("format: chat: %s renders as %q: not a gemma, chatml, llama3 or phi3 style template", describeTemplate(tmpl), out)
}

func describeTemplate(tmpl string) string {
	if len(tmpl) <= 40 && !strings.ContainsAny(tmpl, "{}\n") {
		return fmt.Sprintf("chat template %q", tmpl)
	}
	return fmt.Sprintf("chat template (%d bytes)", len(tmpl))
}

// Name returns "chat".
func (f *Chat) Name() string { return NameChat }

// Family returns the family of the chat template.
func (f *Chat) Family() Family { return f.family }

// Template returns the template passed to llama.cpp.
func (f *Chat) Template() string { return f.template }

// StopString returns the template's end string (e.g. "<end_of_turn>").
func (f *Chat) StopString() string { return f.p.end }

// RequiredTokens returns the special tokens of the template's family.
func (f *Chat) RequiredTokens() []string { return append([]string(nil), f.p.tokens...) }

// Render converts the messages (ChatConversation) and renders the
// conversation with RenderConversation (add_generation_prompt =
// startGeneration).
func (f *Chat) Render(msgs []Message, startGeneration bool) ([]Segment, error) {
	conv, err := ChatConversation(msgs, startGeneration)
	if err != nil {
		return nil, err
	}
	return f.RenderConversation(conv, startGeneration)
}

// RenderConversation renders an arbitrary system/user/assistant
// conversation with the per-family rules Render uses: the template renders
// it (addGeneration is add_generation_prompt), the family's string mapping
// is applied (Gemma: a literal <bos> dropped; ChatML with Qwen3's template
// or the built-in one: one empty think block after every assistant header), and every span that starts right
// after the family's model_start_text and ends with (and includes) its
// end_string is marked as loss. A trailing generation prompt opens no span,
// so Text of the result is the prompt to tokenize (with the tokenizer adding
// BOS). Roles other than system, user and assistant are an error.
func (f *Chat) RenderConversation(msgs []ChatMessage, addGeneration bool) ([]Segment, error) {
	if len(msgs) == 0 {
		return nil, errors.New("format: chat: empty conversation")
	}
	for i, m := range msgs {
		switch m.Role {
		case ChatSystem, ChatUser, ChatAssistant:
		default:
			return nil, fmt.Errorf("format: chat: conversation message %d has role %q; want system, user or assistant", i, m.Role)
		}
	}
	text, err := f.apply(f.template, msgs, addGeneration)
	if err != nil {
		return nil, fmt.Errorf("format: chat: %s: %w", describeTemplate(f.template), err)
	}
	if f.p.mapping != nil {
		text = f.p.mapping(text)
	}
	return splitLossSpans(text, f.p.modelStart, f.p.end), nil
}

// splitLossSpans cuts text into unscored and scored segments: a scored span
// starts right after each occurrence of start and runs up to and including
// the next end. A start with no end after it (the generation prompt) opens
// no span.
func splitLossSpans(text, start, end string) []Segment {
	var segs []Segment
	add := func(s string, loss bool) {
		if s != "" {
			segs = append(segs, Segment{Text: s, Loss: loss})
		}
	}
	pos, from := 0, 0 // pos: start of the pending unscored text; from: search position
	for {
		i := strings.Index(text[from:], start)
		if i < 0 {
			break
		}
		b := from + i + len(start)
		j := strings.Index(text[b:], end)
		if j < 0 {
			break
		}
		e := b + j + len(end)
		add(text[pos:b], false)
		add(text[b:e], true)
		pos, from = e, e
	}
	add(text[pos:], false)
	return segs
}
