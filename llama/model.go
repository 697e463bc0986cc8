package llama

/*
#include <stdint.h>
#include <stdlib.h>
#include <llama.h>

extern _Bool spectrumGoProgress(float p, void *ud);
static _Bool spectrum_progress_cb(float p, void *ud) { return spectrumGoProgress(p, ud); }
static void spectrum_set_progress(struct llama_model_params *p, uintptr_t ud) {
	p->progress_callback = spectrum_progress_cb;
	p->progress_callback_user_data = (void *)ud;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"
)

// ModelParams control how a model file is loaded.
type ModelParams struct {
	// GPULayers is the number of layers to offload to a GPU; -1 offloads all.
	GPULayers int
	// NoMmap reads the weights into memory instead of mapping the file.
	NoMmap bool
	// VocabOnly loads only the tokenizer (no weights; no context can be made).
	VocabOnly bool
	// Progress, if set, is called with values in [0, 1] while loading;
	// returning false cancels the load.
	Progress func(p float32) bool
}

// Model is a loaded GGUF model. Its methods are safe for concurrent use;
// Close must not race with them.
type Model struct {
	c         *C.struct_llama_model
	vocab     *C.struct_llama_vocab
	path      string
	vocabOnly bool

	mu       sync.Mutex
	adapters map[*Adapter]struct{}
}

// ErrCanceled is returned when a Progress callback cancels a load.
var ErrCanceled = errors.New("llama: canceled")

//export spectrumGoProgress
func spectrumGoProgress(p C.float, ud unsafe.Pointer) C._Bool {
	f := cgo.Handle(uintptr(ud)).Value().(func(float32) bool)
	return C._Bool(f(float32(p)))
}

// LoadModel loads a GGUF model. The file is validated in pure Go first, so a
// missing, truncated or corrupt file is an error rather than an abort.
func LoadModel(path string, p ModelParams) (*Model, error) {
	if err := checkModelFile(path, !p.VocabOnly); err != nil {
		return nil, err
	}
	Init()
	mp := C.llama_model_default_params()
	mp.n_gpu_layers = C.int32_t(p.GPULayers)
	if p.GPULayers < 0 {
		mp.n_gpu_layers = 999
	}
	mp.use_mmap = C._Bool(!p.NoMmap)
	mp.vocab_only = C._Bool(p.VocabOnly)
	canceled := false
	var h cgo.Handle
	if p.Progress != nil {
		h = cgo.NewHandle(func(f float32) bool {
			ok := p.Progress(f)
			canceled = canceled || !ok
			return ok
		})
		defer h.Delete()
		C.spectrum_set_progress(&mp, C.uintptr_t(h))
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	cm := C.llama_model_load_from_file(cpath, mp)
	if cm == nil {
		if canceled {
			return nil, ErrCanceled
		}
		return nil, fmt.Errorf("llama: %s: llama.cpp could not load the model (run with --log-level info for its messages)", path)
	}
	return &Model{c: cm, vocab: C.llama_model_get_vocab(cm), path: path, vocabOnly: p.VocabOnly}, nil
}

// Close frees the model and any adapter still loaded for it.
func (m *Model) Close() error {
	if m == nil || m.c == nil {
		return nil
	}
	m.mu.Lock()
	for a := range m.adapters {
		a.c = nil // llama.cpp frees adapters with their model
	}
	m.adapters = nil
	m.mu.Unlock()
	C.llama_model_free(m.c)
	m.c = nil
	m.vocab = nil
	return nil
}

// Path is the file the model was loaded from.
func (m *Model) Path() string { return m.path }

// VocabOnly reports whether only the tokenizer was loaded.
func (m *Model) VocabOnly() bool { return m.vocabOnly }

// Meta returns a metadata value as text, e.g. Meta("general.architecture").
func (m *Model) Meta(key string) (string, bool) {
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	return cString(func(buf *C.char, n C.size_t) C.int32_t {
		return C.llama_model_meta_val_str(m.c, ckey, buf, n)
	})
}

// MetaAll returns every metadata key and value as text (arrays are elided
// by llama.cpp).
func (m *Model) MetaAll() map[string]string {
	return metaMap(int(C.llama_model_meta_count(m.c)),
		func(i C.int32_t, buf *C.char, n C.size_t) C.int32_t {
			return C.llama_model_meta_key_by_index(m.c, i, buf, n)
		},
		func(i C.int32_t, buf *C.char, n C.size_t) C.int32_t {
			return C.llama_model_meta_val_str_by_index(m.c, i, buf, n)
		})
}

// metaMap collects n key/value pairs read by index with llama.cpp's
// write-into-buffer getters.
func metaMap(n int, key, val func(i C.int32_t, buf *C.char, n C.size_t) C.int32_t) map[string]string {
	out := make(map[string]string, n)
	for i := 0; i < n; i++ {
		ci := C.int32_t(i)
		k, _ := cString(func(buf *C.char, sz C.size_t) C.int32_t { return key(ci, buf, sz) })
		v, _ := cString(func(buf *C.char, sz C.size_t) C.int32_t { return val(ci, buf, sz) })
		out[k] = v
	}
	return out
}

// cString calls a llama.cpp "write into buf, return length or -1" function,
// growing the buffer when the value is longer.
func cString(f func(buf *C.char, n C.size_t) C.int32_t) (string, bool) {
	size := 256
	for {
		buf := (*C.char)(C.malloc(C.size_t(size)))
		n := int(f(buf, C.size_t(size)))
		if n < 0 {
			C.free(unsafe.Pointer(buf))
			return "", false
		}
		if n < size {
			s := C.GoStringN(buf, C.int(n))
			C.free(unsafe.Pointer(buf))
			return s, true
		}
		C.free(unsafe.Pointer(buf))
		size = n + 1
	}
}

// Architecture is general.architecture, e.g. "llama".
func (m *Model) Architecture() string { s, _ := m.Meta("general.architecture"); return s }

// Name is general.name, or "" when the file has none.
func (m *Model) Name() string { s, _ := m.Meta("general.name"); return s }

// Description is llama.cpp's one-line summary, e.g. "llama ?B all F32".
func (m *Model) Description() string {
	s, _ := cString(func(buf *C.char, n C.size_t) C.int32_t { return C.llama_model_desc(m.c, buf, n) })
	return s
}

// NCtxTrain is the context length the model was trained with.
func (m *Model) NCtxTrain() int { return int(C.llama_model_n_ctx_train(m.c)) }

// NEmbd is the embedding width.
func (m *Model) NEmbd() int { return int(C.llama_model_n_embd(m.c)) }

// NLayer is the number of blocks.
func (m *Model) NLayer() int { return int(C.llama_model_n_layer(m.c)) }

// NHead is the number of attention heads.
func (m *Model) NHead() int { return int(C.llama_model_n_head(m.c)) }

// NHeadKV is the number of key/value heads.
func (m *Model) NHeadKV() int { return int(C.llama_model_n_head_kv(m.c)) }

// HeadDims returns the sizes of an attention head's K and V vectors: the
// GGUF's attention.key_length and value_length, or n_embd/n_head without
// them.
func (m *Model) HeadDims() (k, v int) {
	d := 0
	if h := m.NHead(); h > 0 {
		d = m.NEmbd() / h
	}
	k, v = d, d
	arch := m.Architecture()
	if s, ok := m.Meta(arch + ".attention.key_length"); ok {
		fmt.Sscan(s, &k)
	}
	if s, ok := m.Meta(arch + ".attention.value_length"); ok {
		fmt.Sscan(s, &v)
	}
	return k, v
}

// NVocab is the vocabulary size.
func (m *Model) NVocab() int { return int(C.llama_vocab_n_tokens(m.vocab)) }

// Size is the total size of the weights in bytes.
func (m *Model) Size() uint64 { return uint64(C.llama_model_size(m.c)) }

// NParams is the number of parameters.
func (m *Model) NParams() uint64 { return uint64(C.llama_model_n_params(m.c)) }

// ChatTemplate is the model's default chat template ("" if none).
func (m *Model) ChatTemplate() string {
	p := C.llama_model_chat_template(m.c, nil)
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

func tokOrNone(t C.llama_token) Token {
	if t < 0 {
		return NoToken
	}
	return Token(t)
}

// BOS is the beginning-of-sequence token, or NoToken.
func (m *Model) BOS() Token { return tokOrNone(C.llama_vocab_bos(m.vocab)) }

// EOS is the end-of-sequence token, or NoToken.
func (m *Model) EOS() Token { return tokOrNone(C.llama_vocab_eos(m.vocab)) }

// EOT is the end-of-turn token, or NoToken.
func (m *Model) EOT() Token { return tokOrNone(C.llama_vocab_eot(m.vocab)) }

// PAD is the padding token, or NoToken.
func (m *Model) PAD() Token { return tokOrNone(C.llama_vocab_pad(m.vocab)) }

// AddBOS reports whether the tokenizer adds BOS at the start of a sequence.
func (m *Model) AddBOS() bool { return bool(C.llama_vocab_get_add_bos(m.vocab)) }

// IsEOG reports whether t ends generation (EOS, EOT and the like).
func (m *Model) IsEOG(t Token) bool { return bool(C.llama_vocab_is_eog(m.vocab, C.llama_token(t))) }

// IsControl reports whether t is a control (special) token.
func (m *Model) IsControl(t Token) bool {
	return bool(C.llama_vocab_is_control(m.vocab, C.llama_token(t)))
}

// TokenText is the vocabulary entry of t as stored (e.g. "▁the", "<0x0A>").
func (m *Model) TokenText(t Token) string {
	if t < 0 || int(t) >= m.NVocab() {
		return ""
	}
	return C.GoString(C.llama_vocab_get_text(m.vocab, C.llama_token(t)))
}

// TokenID finds the token whose stored text is exactly text (for special
// tokens such as "<|im_start|>").
func (m *Model) TokenID(text string) (Token, bool) {
	ids, err := m.Tokenize(text, false, true)
	if err != nil || len(ids) != 1 || m.TokenText(ids[0]) != text {
		return NoToken, false
	}
	return ids[0], true
}

// Tokenize converts text to tokens. addSpecial adds BOS (and EOS) as the
// model's tokenizer does; parseSpecial turns special-token texts such as
// "<|im_start|>" into their ids instead of tokenizing them as plain text.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]Token, error) {
	if m.c == nil {
		return nil, errors.New("llama: Tokenize on a closed model")
	}
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	n := len(text) + 2
	for {
		buf := make([]Token, n)
		got := int(C.llama_tokenize(m.vocab, ctext, C.int32_t(len(text)),
			(*C.llama_token)(unsafe.Pointer(&buf[0])), C.int32_t(n), C._Bool(addSpecial), C._Bool(parseSpecial)))
		if got >= 0 {
			return buf[:got], nil
		}
		if got == -2147483648 || -got <= n {
			return nil, fmt.Errorf("llama: tokenization of %d bytes failed", len(text))
		}
		n = -got
	}
}

// TokenToPiece returns the text of one token, with special tokens rendered
// as their text (e.g. "<|im_end|>").
func (m *Model) TokenToPiece(t Token) string { return m.Piece(t, true) }

// Piece returns the text of one token; special controls whether control
// tokens render as their text or as "".
func (m *Model) Piece(t Token, special bool) string {
	if t < 0 || int(t) >= m.NVocab() {
		return ""
	}
	var stack [64]C.char
	n := C.llama_token_to_piece(m.vocab, C.llama_token(t), &stack[0], C.int32_t(len(stack)), 0, C._Bool(special))
	if n >= 0 {
		return C.GoStringN(&stack[0], C.int(n))
	}
	buf := make([]byte, -n)
	n = C.llama_token_to_piece(m.vocab, C.llama_token(t), (*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(buf)), 0, C._Bool(special))
	if n < 0 {
		return ""
	}
	return string(buf[:n])
}

// Detokenize converts tokens back to text, exactly: the pieces' bytes are
// joined, so multi-byte characters split across byte-fallback tokens come out
// whole, and (unlike llama_detokenize for GPT-2-style vocabularies) no
// "clean-up" of spaces before punctuation is applied. For SentencePiece
// vocabularies the space the tokenizer prefixes is removed from the first
// piece. removeSpecial drops a leading BOS (and trailing EOS) the tokenizer
// adds; unparseSpecial renders control tokens as their text instead of "".
func (m *Model) Detokenize(toks []Token, removeSpecial, unparseSpecial bool) (string, error) {
	if removeSpecial {
		if len(toks) > 0 && m.AddBOS() && toks[0] == m.BOS() {
			toks = toks[1:]
		}
		if len(toks) > 0 && bool(C.llama_vocab_get_add_eos(m.vocab)) && toks[len(toks)-1] == m.EOS() {
			toks = toks[:len(toks)-1]
		}
	}
	var out []byte
	lstrip := m.addSpacePrefix()
	var stack [64]C.char
	for _, t := range toks {
		if t < 0 || int(t) >= m.NVocab() {
			return "", fmt.Errorf("llama: token %d outside the vocabulary (%d)", t, m.NVocab())
		}
		ls := C.int32_t(0)
		if lstrip {
			ls = 1
		}
		n := C.llama_token_to_piece(m.vocab, C.llama_token(t), &stack[0], C.int32_t(len(stack)), ls, C._Bool(unparseSpecial))
		if n < 0 {
			big := make([]byte, -n)
			n = C.llama_token_to_piece(m.vocab, C.llama_token(t), (*C.char)(unsafe.Pointer(&big[0])), C.int32_t(len(big)), ls, C._Bool(unparseSpecial))
			if n < 0 {
				return "", fmt.Errorf("llama: token %d has no text", t)
			}
			out = append(out, big[:n]...)
		} else {
			out = append(out, C.GoBytes(unsafe.Pointer(&stack[0]), C.int(n))...)
		}
		if n > 0 || !m.IsControl(t) {
			lstrip = false // only the text's first piece carries the prefix space
		}
	}
	return string(out), nil
}

// addSpacePrefix reports whether the tokenizer prefixes text with a space
// (SentencePiece-style vocabularies, unless the GGUF says otherwise).
func (m *Model) addSpacePrefix() bool {
	if v, ok := m.Meta("tokenizer.ggml.add_space_prefix"); ok {
		return v == "true"
	}
	t := C.llama_vocab_type(m.vocab)
	return t == C.LLAMA_VOCAB_TYPE_SPM || t == C.LLAMA_VOCAB_TYPE_UGM
}

// ChatMessage is one turn for ApplyChatTemplate.
type ChatMessage struct {
	Role    string
	Content string
}

// ApplyChatTemplate renders messages with a chat template, either a template
// text from a GGUF or a built-in name ("chatml", "gemma", "llama3", "phi3", …;
// see BuiltinChatTemplates). llama.cpp recognises templates by pattern, it
// does not run Jinja: an unrecognised template is an error.
func ApplyChatTemplate(tmpl string, msgs []ChatMessage, addAssistant bool) (string, error) {
	ctmpl := C.CString(tmpl)
	defer C.free(unsafe.Pointer(ctmpl))
	cmsgs := make([]C.struct_llama_chat_message, len(msgs))
	total := 0
	for i, msg := range msgs {
		cmsgs[i].role = C.CString(msg.Role)
		cmsgs[i].content = C.CString(msg.Content)
		total += len(msg.Role) + len(msg.Content)
	}
	defer func() {
		for _, c := range cmsgs {
			C.free(unsafe.Pointer(c.role))
			C.free(unsafe.Pointer(c.content))
		}
	}()
	var pm *C.struct_llama_chat_message
	if len(cmsgs) > 0 {
		pm = &cmsgs[0]
	}
	n := 2*total + 512
	for {
		buf := (*C.char)(C.malloc(C.size_t(n)))
		got := int(C.llama_chat_apply_template(ctmpl, pm, C.size_t(len(cmsgs)), C._Bool(addAssistant), buf, C.int32_t(n)))
		if got < 0 {
			C.free(unsafe.Pointer(buf))
			name := tmpl
			if len(name) > 40 {
				name = name[:40] + "…"
			}
			return "", fmt.Errorf("llama: chat template %q is not supported by llama.cpp (built-in names: %s)", name, strings.Join(BuiltinChatTemplates(), ", "))
		}
		if got <= n {
			s := C.GoStringN(buf, C.int(got))
			C.free(unsafe.Pointer(buf))
			return s, nil
		}
		C.free(unsafe.Pointer(buf))
		n = got
	}
}

// BuiltinChatTemplates lists the template names llama.cpp knows.
func BuiltinChatTemplates() []string {
	n := int(C.llama_chat_builtin_templates(nil, 0))
	if n <= 0 {
		return nil
	}
	ptrs := make([]*C.char, n)
	C.llama_chat_builtin_templates(&ptrs[0], C.size_t(n))
	out := make([]string, n)
	for i, p := range ptrs {
		out[i] = C.GoString(p)
	}
	return out
}
