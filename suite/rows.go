package suite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Message roles of the Spectrum format (reference §1.1).
const (
	RoleDescription = "description"
	RoleInput       = "input"
	RoleOutput      = "output"
)

// Message is one turn of a row: {"role": …, "content": …}.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Row is one training or evaluation sequence: an optional description followed
// by (input?, output) examples drawn from one generating process, plus
// bookkeeping.
//
// JSON shape: {"task", "messages", "seed", "n", "include_description"} plus,
// for distributional prompts, "target_outputs" and "target_probs". Unknown
// top-level fields of imported rows (the reference's "name", "dataset_ind",
// "samples", task parameters such as "lambda", …) are kept in Extra and written
// back unchanged. Unknown keys inside a message (the reference's
// "example_ind") are accepted and dropped.
type Row struct {
	// Task is the task name (the reference's default_data_map key). Rows
	// written by the reference carry no task key; on import Task falls back to
	// their "name" field.
	Task     string
	Messages []Message
	// Seed is the seed the row was generated with (Task.Generate: the seed
	// argument; Index tells the row apart).
	Seed int64
	// Index is the row's position in its generation run (not in the
	// reference's rows; 0 for imported rows).
	Index int
	// N is the number of examples (output messages) in the row.
	N int
	// IncludeDescription reports whether the first message is a description.
	IncludeDescription bool
	// Targets and TargetProbs are set only on distributional prompt rows
	// (reference §5.3): the candidate outputs and their target probabilities,
	// which sum to 1. Such rows hold the prompt only (description?, input) and
	// need no output message.
	Targets     []string
	TargetProbs []float64
	// Extra holds the other top-level fields, raw JSON by key.
	Extra map[string]json.RawMessage
}

// Distributional reports whether r is a distributional prompt row.
func (r *Row) Distributional() bool { return len(r.Targets) > 0 }

// Description returns the row's description, or "" if it has none.
func (r *Row) Description() string {
	if len(r.Messages) > 0 && r.Messages[0].Role == RoleDescription {
		return r.Messages[0].Content
	}
	return ""
}

// Outputs returns the contents of the row's output messages, in order.
func (r *Row) Outputs() []string {
	var out []string
	for _, m := range r.Messages {
		if m.Role == RoleOutput {
			out = append(out, m.Content)
		}
	}
	return out
}

// SetExtra stores v (JSON-encoded) under key in r.Extra.
func (r *Row) SetExtra(key string, v any) error {
	b, err := marshalNoEscape(v)
	if err != nil {
		return fmt.Errorf("extra field %q: %w", key, err)
	}
	if r.Extra == nil {
		r.Extra = map[string]json.RawMessage{}
	}
	r.Extra[key] = b
	return nil
}

// Validate checks the message structure (see ValidateMessages) and, for
// distributional rows, the targets.
func (r *Row) Validate() error {
	if err := ValidateMessages(r.Messages, r.Distributional()); err != nil {
		return err
	}
	if len(r.TargetProbs) > 0 && !r.Distributional() {
		return fmt.Errorf("target_probs without target_outputs")
	}
	if r.Distributional() {
		if len(r.TargetProbs) != len(r.Targets) {
			return fmt.Errorf("%d target_outputs but %d target_probs", len(r.Targets), len(r.TargetProbs))
		}
		sum := 0.0
		for i, p := range r.TargetProbs {
			if math.IsNaN(p) || p < 0 {
				return fmt.Errorf("target_probs[%d] = %v: want a probability", i, p)
			}
			sum += p
		}
		if math.Abs(sum-1) > 1e-6 {
			return fmt.Errorf("target_probs sum to %v, want 1", sum)
		}
	}
	return nil
}

// ValidateMessages checks the structure of a message list:
// [description?, (input?, output)…]. It must not be empty, every role must be
// description, input or output, a description may appear only once and only
// first, and (unless promptOnly) at least one output is required.
func ValidateMessages(msgs []Message, promptOnly bool) error {
	if len(msgs) == 0 {
		return fmt.Errorf("empty messages")
	}
	outputs := 0
	for i, m := range msgs {
		switch m.Role {
		case RoleDescription:
			if i > 0 {
				if msgs[0].Role == RoleDescription {
					return fmt.Errorf("more than one description (messages 1 and %d)", i+1)
				}
				return fmt.Errorf("description must be the first message (found at message %d)", i+1)
			}
		case RoleInput:
		case RoleOutput:
			outputs++
		default:
			return fmt.Errorf("unknown role %q (want description, input or output)", m.Role)
		}
	}
	if outputs == 0 && !promptOnly {
		return fmt.Errorf("no output message")
	}
	return nil
}

var knownRowKeys = map[string]bool{
	"task": true, "messages": true, "seed": true, "index": true, "n": true,
	"include_description": true, "target_outputs": true, "target_probs": true,
}

// MarshalJSON writes the known fields first, then Extra in key order.
func (r Row) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	field := func(key string, v any) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := marshalNoEscape(key)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := marshalNoEscape(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		b.Write(vb)
		return nil
	}
	msgs := r.Messages
	if msgs == nil {
		msgs = []Message{}
	}
	if err := field("task", r.Task); err != nil {
		return nil, err
	}
	b.WriteString(`,"messages":[`)
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"role":`)
		appendJSONString(&b, m.Role)
		b.WriteString(`,"content":`)
		appendJSONString(&b, m.Content)
		b.WriteByte('}')
	}
	b.WriteByte(']')
	if err := field("seed", r.Seed); err != nil {
		return nil, err
	}
	if err := field("index", r.Index); err != nil {
		return nil, err
	}
	if err := field("n", r.N); err != nil {
		return nil, err
	}
	if err := field("include_description", r.IncludeDescription); err != nil {
		return nil, err
	}
	if r.Targets != nil {
		if err := field("target_outputs", r.Targets); err != nil {
			return nil, err
		}
		if err := field("target_probs", r.TargetProbs); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		if !knownRowKeys[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := field(k, r.Extra[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a row in this package's shape or in the reference's
// (pandas records with a "name" and role/content message dicts). It checks
// field types, not the message structure (see Validate).
func (r *Row) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		return fmt.Errorf("want a JSON object, got null")
	}
	*r = Row{}
	if v, ok := raw["task"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &r.Task); err != nil {
			return fmt.Errorf("task: want a string")
		}
	} else if v, ok := raw["name"]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil {
			r.Task = s
		}
	}
	mraw, ok := raw["messages"]
	if !ok || isNull(mraw) {
		return fmt.Errorf("no \"messages\" field")
	}
	if err := decodeMessages(mraw, r); err != nil {
		return err
	}
	var err error
	hasN, hasDesc := false, false
	if v, ok := raw["seed"]; ok && !isNull(v) {
		if r.Seed, err = jsonInt(v); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	if v, ok := raw["index"]; ok && !isNull(v) {
		i, err := jsonInt(v)
		if err != nil {
			return fmt.Errorf("index: %w", err)
		}
		r.Index = int(i)
	}
	if v, ok := raw["n"]; ok && !isNull(v) {
		n, err := jsonInt(v)
		if err != nil {
			return fmt.Errorf("n: %w", err)
		}
		r.N, hasN = int(n), true
	}
	if v, ok := raw["include_description"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &r.IncludeDescription); err != nil {
			return fmt.Errorf("include_description: want true or false")
		}
		hasDesc = true
	}
	if v, ok := raw["target_outputs"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &r.Targets); err != nil {
			return fmt.Errorf("target_outputs: want a list of strings")
		}
	}
	if v, ok := raw["target_probs"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &r.TargetProbs); err != nil {
			return fmt.Errorf("target_probs: want a list of numbers")
		}
	}
	if !hasN {
		r.N = len(r.Outputs())
	}
	if !hasDesc {
		r.IncludeDescription = r.Description() != ""
	}
	for k, v := range raw {
		if !knownRowKeys[k] {
			if r.Extra == nil {
				r.Extra = map[string]json.RawMessage{}
			}
			r.Extra[k] = v
		}
	}
	return nil
}

type rawMessage struct {
	Role    *string `json:"role"`
	Content *string `json:"content"`
}

// decodeMessages decodes the message list; other keys of a message (the
// reference's "example_ind") are ignored.
func decodeMessages(data json.RawMessage, r *Row) error {
	var fast []rawMessage
	if err := json.Unmarshal(data, &fast); err == nil {
		r.Messages = make([]Message, len(fast))
		for i, m := range fast {
			if m.Content == nil {
				return fmt.Errorf("messages[%d].content: want a string", i)
			}
			if m.Role != nil {
				r.Messages[i].Role = *m.Role
			}
			r.Messages[i].Content = *m.Content
		}
		return nil
	}
	// Slow path, for a precise error message.
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return fmt.Errorf("messages: want a list of {\"role\", \"content\"} objects")
	}
	for i, it := range items {
		if it == nil {
			return fmt.Errorf("messages[%d]: want an object, got null", i)
		}
		var s string
		if v, ok := it["role"]; ok && !isNull(v) && json.Unmarshal(v, &s) != nil {
			return fmt.Errorf("messages[%d].role: want a string", i)
		}
		if v, ok := it["content"]; ok && !isNull(v) && json.Unmarshal(v, &s) != nil {
			return fmt.Errorf("messages[%d].content: want a string", i)
		}
	}
	return fmt.Errorf("messages: want a list of {\"role\", \"content\"} objects")
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// jsonInt reads an integer that may have been written as a float (42.0).
func jsonInt(v json.RawMessage) (int64, error) {
	s := string(bytes.TrimSpace(v))
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
		return 0, fmt.Errorf("want an integer, got %s", s)
	}
	return int64(f), nil
}

// appendJSONString writes s as a JSON string the way encoding/json does
// without HTML escaping (invalid UTF-8 becomes U+FFFD; U+2028 and U+2029 are
// escaped).
func appendJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// marshalNoEscape is json.Marshal without HTML escaping of <, > and &.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
