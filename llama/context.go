package llama

/*
#include <stdlib.h>
#include <llama.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// ContextParams configure a Context. Zero values take the defaults noted.
type ContextParams struct {
	NCtx    int // KV cells in all (0: the model's training context, capped at 4096)
	NBatch  int // most tokens per Decode call (0: 512, at least NUbatch)
	NUbatch int // most tokens per compute step (0: NBatch)
	NSeqMax int // distinct sequences (0: 1)
	Threads int // CPU threads (0: DefaultThreads)
	// FlashAttention turns on flash attention ("auto" lets llama.cpp decide).
	FlashAttention string // "", "auto", "on", "off" ("" = off)
	// KVType is the KV cache element type: "f16" (default), "f32", "q8_0",
	// "q4_0". F32 makes batched and token-by-token decoding agree to ~1e-6;
	// it turns "auto" flash attention off and is refused with "on" (llama.cpp
	// computes flash attention on an F16 copy). The quantized types need
	// flash attention and head sizes that are multiples of 32.
	KVType string
	// LoRA prepares the context for SetAdapter. llama.cpp (this version)
	// reuses a compute graph across decodes even when the set of adapters
	// changed, so such contexts rebuild the graph on every decode instead.
	LoRA bool
	// UnifiedKV shares one KV buffer between sequences, so that SeqCp is a
	// metadata-only copy (best for many completions of one prompt).
	UnifiedKV bool
}

// Context holds the KV memory and compute state for decoding with a Model.
// It is not safe for concurrent use.
type Context struct {
	c       *C.struct_llama_context
	model   *Model
	nVocab  int
	nBatch  int
	nSeq    int
	lora    bool
	unified bool

	// outputs marks the batch indices of the last successful Decode that
	// have logits: llama.cpp (built without NDEBUG) aborts on any other.
	outputs []bool
}

// NewContext creates a decoding context.
func NewContext(m *Model, p ContextParams) (*Context, error) {
	if m == nil || m.c == nil {
		return nil, errors.New("llama: NewContext on a closed model")
	}
	if m.vocabOnly {
		return nil, fmt.Errorf("llama: %s was loaded vocab-only (no weights): it can tokenize but not decode", m.path)
	}
	if p.NCtx < 0 || p.NBatch < 0 || p.NUbatch < 0 || p.NSeqMax < 0 || p.Threads < 0 {
		return nil, fmt.Errorf("llama: negative context parameter: %+v", p)
	}
	if p.NSeqMax > int(C.llama_max_parallel_sequences()) {
		return nil, fmt.Errorf("llama: %d sequences requested, llama.cpp allows at most %d", p.NSeqMax, int(C.llama_max_parallel_sequences()))
	}
	cp := C.llama_context_default_params()
	nctx := p.NCtx
	if nctx == 0 {
		nctx = min(m.NCtxTrain(), 4096)
	}
	nbatch := p.NBatch
	if nbatch == 0 {
		nbatch = max(512, p.NUbatch)
	}
	nubatch := p.NUbatch
	if nubatch == 0 {
		nubatch = nbatch
	}
	nseq := max(p.NSeqMax, 1)
	threads := p.Threads
	if threads == 0 {
		threads = DefaultThreads()
	}
	cp.n_ctx = C.uint32_t(nctx)
	cp.n_batch = C.uint32_t(nbatch)
	cp.n_ubatch = C.uint32_t(nubatch)
	cp.n_seq_max = C.uint32_t(nseq)
	cp.n_threads = C.int32_t(threads)
	cp.n_threads_batch = C.int32_t(threads)
	cp.kv_unified = C._Bool(p.UnifiedKV)
	cp.no_perf = true
	switch p.FlashAttention {
	case "", "off":
		cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_DISABLED
	case "on":
		cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_ENABLED
	case "auto":
		cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_AUTO
	default:
		return nil, fmt.Errorf("llama: flash attention %q: want auto, on or off", p.FlashAttention)
	}
	switch p.KVType {
	case "", "f16":
		cp.type_k, cp.type_v = C.GGML_TYPE_F16, C.GGML_TYPE_F16
	case "f32":
		cp.type_k, cp.type_v = C.GGML_TYPE_F32, C.GGML_TYPE_F32
	case "q8_0":
		cp.type_k, cp.type_v = C.GGML_TYPE_Q8_0, C.GGML_TYPE_Q8_0
	case "q4_0":
		cp.type_k, cp.type_v = C.GGML_TYPE_Q4_0, C.GGML_TYPE_Q4_0
	default:
		return nil, fmt.Errorf("llama: KV cache type %q: want f16, f32, q8_0 or q4_0", p.KVType)
	}
	// llama.cpp accepts these and then rounds or aborts; say so up front.
	flashOn := p.FlashAttention == "on" || p.FlashAttention == "auto"
	switch p.KVType {
	case "f32":
		// Under flash attention llama.cpp casts an F32 K and V to F16
		// (llama-graph.cpp), so an f32 cache would compute as f16.
		if p.FlashAttention == "on" {
			return nil, errors.New("llama: an f32 KV cache under flash attention computes in f16 (llama.cpp casts K and V to f16 there): turn flash attention off for f32")
		}
		cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_DISABLED
	case "q8_0", "q4_0":
		if !flashOn {
			return nil, fmt.Errorf("llama: a %s KV cache needs flash attention on (llama.cpp quantizes V only there)", p.KVType)
		}
		if hk, hv := m.HeadDims(); hk%32 != 0 || hv%32 != 0 {
			return nil, fmt.Errorf("llama: a %s KV cache needs attention heads whose sizes are multiples of 32 (its block); %s has %d (K) and %d (V)", p.KVType, m.path, hk, hv)
		}
	}
	cc := initContext(m.c, cp, p.LoRA)
	if cc == nil {
		return nil, fmt.Errorf("llama: could not create a context (n_ctx %d, n_batch %d, n_seq_max %d) for %s", nctx, nbatch, nseq, m.path)
	}
	return &Context{c: cc, model: m, nVocab: m.NVocab(), nBatch: int(C.llama_n_batch(cc)), nSeq: nseq, lora: p.LoRA, unified: p.UnifiedKV}, nil
}

// envMu serialises the environment switch initContext makes.
var envMu sync.Mutex

// initContext creates a llama context, with graph reuse off when noReuse is
// set: llama.cpp reads that switch only from the environment.
func initContext(m *C.struct_llama_model, cp C.struct_llama_context_params, noReuse bool) *C.struct_llama_context {
	if !noReuse {
		return C.llama_init_from_model(m, cp)
	}
	envMu.Lock()
	defer envMu.Unlock()
	old, had := os.LookupEnv("LLAMA_GRAPH_REUSE_DISABLE")
	os.Setenv("LLAMA_GRAPH_REUSE_DISABLE", "1")
	defer func() {
		if had {
			os.Setenv("LLAMA_GRAPH_REUSE_DISABLE", old)
		} else {
			os.Unsetenv("LLAMA_GRAPH_REUSE_DISABLE")
		}
	}()
	return C.llama_init_from_model(m, cp)
}

// Close frees the context.
func (c *Context) Close() error {
	if c != nil && c.c != nil {
		C.llama_free(c.c)
		c.c = nil
	}
	return nil
}

// Model is the model the context decodes with.
func (c *Context) Model() *Model { return c.model }

// NCtx is the number of KV cells.
func (c *Context) NCtx() int { return int(C.llama_n_ctx(c.c)) }

// NCtxSeq is the number of KV cells one sequence can use.
func (c *Context) NCtxSeq() int { return int(C.llama_n_ctx_seq(c.c)) }

// NBatch is the most tokens one Decode accepts.
func (c *Context) NBatch() int { return c.nBatch }

// NSeqMax is the number of distinct sequences.
func (c *Context) NSeqMax() int { return c.nSeq }

// SetThreads changes the CPU thread count.
func (c *Context) SetThreads(n int) {
	C.llama_set_n_threads(c.c, C.int32_t(n), C.int32_t(n))
}

// ErrNoKVSlot is returned by Decode when the KV memory has no room for the
// batch (free sequences or use a larger context).
var ErrNoKVSlot = errors.New("llama: no KV cache slot for the batch (context full)")

// Decode runs the model on a batch. Logits of the tokens added with
// logits=true can then be read with Logits.
func (c *Context) Decode(b *Batch) error {
	if c.c == nil {
		return errors.New("llama: Decode on a closed context")
	}
	if b.n == 0 {
		return errors.New("llama: Decode of an empty batch")
	}
	if b.n > c.nBatch {
		return fmt.Errorf("llama: batch of %d tokens exceeds the context's n_batch %d", b.n, c.nBatch)
	}
	b.c.n_tokens = C.int32_t(b.n)
	c.outputs = c.outputs[:0]
	switch r := C.llama_decode(c.c, b.c); {
	case r == 0:
		for _, l := range b.logits[:b.n] {
			c.outputs = append(c.outputs, l != 0)
		}
		return nil
	case r == 1:
		return ErrNoKVSlot
	case r == 2:
		return errors.New("llama: decode aborted")
	default:
		return fmt.Errorf("llama: decode failed (code %d; invalid token, position or sequence id in the batch?)", int(r))
	}
}

// HasLogits reports whether the last Decode computed logits for batch index i.
func (c *Context) HasLogits(i int) bool { return i >= 0 && i < len(c.outputs) && c.outputs[i] }

// Logits returns the logits of the i-th token of the last decoded batch,
// which must have been added with logits=true. The slice aliases llama.cpp's
// buffer: it is valid only until the next Decode, and must not be modified.
func (c *Context) Logits(i int) ([]float32, error) {
	if !c.HasLogits(i) {
		return nil, fmt.Errorf("llama: no logits for batch index %d (was it added with logits=true?)", i)
	}
	p := C.llama_get_logits_ith(c.c, C.int32_t(i))
	if p == nil {
		return nil, fmt.Errorf("llama: no logits for batch index %d (was it added with logits=true?)", i)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(p)), c.nVocab), nil
}

// LogSoftmax writes log-probabilities of the i-th output into dst (length
// n_vocab) and returns it; dst may be nil.
func (c *Context) LogSoftmax(i int, dst []float32) ([]float32, error) {
	lg, err := c.Logits(i)
	if err != nil {
		return nil, err
	}
	if len(dst) < len(lg) {
		dst = make([]float32, len(lg))
	}
	lse := logSumExp(lg)
	for j, v := range lg {
		dst[j] = float32(float64(v) - lse)
	}
	return dst[:len(lg)], nil
}

// TokenLogProb returns log p(tok) under the i-th output, and whether tok is
// the argmax (greedy choice), in one pass over the vocabulary without
// copying it.
func (c *Context) TokenLogProb(i int, tok Token) (logp float64, isArgmax bool, err error) {
	lg, err := c.Logits(i)
	if err != nil {
		return 0, false, err
	}
	if tok < 0 || int(tok) >= len(lg) {
		return 0, false, fmt.Errorf("llama: token %d outside the vocabulary (%d)", tok, len(lg))
	}
	lse, arg := logSumExpArgmax(lg)
	return float64(lg[tok]) - lse, arg == int(tok), nil
}

// logSumExp is log Σ exp(x), computed stably (see logSumExpArgmax).
func logSumExp(x []float32) float64 {
	l, _ := logSumExpArgmax(x)
	return l
}

// MemoryClear empties the KV memory of every sequence.
func (c *Context) MemoryClear() {
	C.llama_memory_clear(C.llama_get_memory(c.c), true)
}

// checkSeq reports a sequence id outside [0, n_seq_max): llama.cpp asserts
// (aborts the process) on those.
func (c *Context) checkSeq(seq SeqID) error {
	if seq < 0 || int(seq) >= c.nSeq {
		return fmt.Errorf("llama: sequence id %d outside [0, %d)", seq, c.nSeq)
	}
	return nil
}

// SeqRm removes the positions [p0, p1) of seq (p0 < 0: from the start;
// p1 < 0: to the end; seq < 0: every sequence). It reports false when the
// removal is impossible (a partial removal from a recurrent model, or an
// invalid sequence id).
func (c *Context) SeqRm(seq SeqID, p0, p1 Pos) bool {
	if seq >= 0 && c.checkSeq(seq) != nil {
		return false
	}
	return bool(C.llama_memory_seq_rm(C.llama_get_memory(c.c), C.llama_seq_id(seq), C.llama_pos(p0), C.llama_pos(p1)))
}

// SeqCp makes dst share src's positions [p0, p1) (p0 < 0: from the start;
// p1 < 0: to the end). With a unified KV cache this only updates metadata;
// otherwise each sequence has its own buffer, only whole sequences can be
// copied, and the copy happens at the next Decode.
func (c *Context) SeqCp(src, dst SeqID, p0, p1 Pos) error {
	if err := c.checkSeq(src); err != nil {
		return err
	}
	if err := c.checkSeq(dst); err != nil {
		return err
	}
	if !c.unified && src != dst && (p0 > 0 || p1 >= 0) {
		return fmt.Errorf("llama: copying positions [%d, %d) between sequences needs a unified KV cache; without it only whole sequences (p0 = p1 = -1) can be copied", p0, p1)
	}
	C.llama_memory_seq_cp(C.llama_get_memory(c.c), C.llama_seq_id(src), C.llama_seq_id(dst), C.llama_pos(p0), C.llama_pos(p1))
	return nil
}

// SeqKeep removes every sequence except seq.
func (c *Context) SeqKeep(seq SeqID) error {
	if err := c.checkSeq(seq); err != nil {
		return err
	}
	C.llama_memory_seq_keep(C.llama_get_memory(c.c), C.llama_seq_id(seq))
	return nil
}

// SeqPosMax is the largest position stored for seq, or -1 when it is empty
// (or seq is invalid).
func (c *Context) SeqPosMax(seq SeqID) Pos {
	if c.checkSeq(seq) != nil {
		return -1
	}
	return Pos(C.llama_memory_seq_pos_max(C.llama_get_memory(c.c), C.llama_seq_id(seq)))
}

// SeqPosMin is the smallest position stored for seq, or -1 when it is empty
// (or seq is invalid).
func (c *Context) SeqPosMin(seq SeqID) Pos {
	if c.checkSeq(seq) != nil {
		return -1
	}
	return Pos(C.llama_memory_seq_pos_min(C.llama_get_memory(c.c), C.llama_seq_id(seq)))
}

// Unified reports whether the context shares one KV buffer between sequences.
func (c *Context) Unified() bool { return c.unified }

// Batch is a reusable set of tokens for one Decode. Add writes straight into
// llama.cpp's arrays (no cgo call per token). Not safe for concurrent use.
type Batch struct {
	c       C.struct_llama_batch
	n       int
	cap     int
	nSeqMax int

	tok    []C.llama_token
	pos    []C.llama_pos
	nSeq   []C.int32_t
	seqIDs []*C.llama_seq_id
	logits []C.int8_t
}

// NewBatch allocates a batch for up to capacity tokens, each in at most
// nSeqMax sequences at once.
func NewBatch(capacity, nSeqMax int) (*Batch, error) {
	if capacity <= 0 || nSeqMax <= 0 {
		return nil, fmt.Errorf("llama: batch capacity %d and sequences per token %d must be ≥ 1", capacity, nSeqMax)
	}
	cb := C.llama_batch_init(C.int32_t(capacity), 0, C.int32_t(nSeqMax))
	b := &Batch{c: cb, cap: capacity, nSeqMax: nSeqMax}
	b.tok = unsafe.Slice(cb.token, capacity)
	b.pos = unsafe.Slice(cb.pos, capacity)
	b.nSeq = unsafe.Slice(cb.n_seq_id, capacity)
	b.seqIDs = unsafe.Slice(cb.seq_id, capacity)
	b.logits = unsafe.Slice(cb.logits, capacity)
	return b, nil
}

// Close frees the batch.
func (b *Batch) Close() error {
	if b != nil && b.cap > 0 {
		b.c.n_tokens = 0
		C.llama_batch_free(b.c)
		b.cap = 0
		b.tok, b.pos, b.nSeq, b.seqIDs, b.logits = nil, nil, nil, nil, nil
	}
	return nil
}

// Len is the number of tokens added since the last Clear.
func (b *Batch) Len() int { return b.n }

// Cap is the batch capacity.
func (b *Batch) Cap() int { return b.cap }

// Clear empties the batch.
func (b *Batch) Clear() { b.n = 0 }

// Add appends a token at position pos in the given sequences, asking for
// its logits when logits is true. It returns the token's index in the batch
// (the index to pass to Logits).
func (b *Batch) Add(tok Token, pos Pos, seqs []SeqID, logits bool) (int, error) {
	if b.n >= b.cap {
		return -1, fmt.Errorf("llama: batch is full (%d tokens)", b.cap)
	}
	if len(seqs) == 0 || len(seqs) > b.nSeqMax {
		return -1, fmt.Errorf("llama: a token must belong to 1..%d sequences, got %d", b.nSeqMax, len(seqs))
	}
	i := b.n
	b.tok[i] = C.llama_token(tok)
	b.pos[i] = C.llama_pos(pos)
	b.nSeq[i] = C.int32_t(len(seqs))
	ids := unsafe.Slice(b.seqIDs[i], b.nSeqMax)
	for k, s := range seqs {
		ids[k] = C.llama_seq_id(s)
	}
	if logits {
		b.logits[i] = 1
	} else {
		b.logits[i] = 0
	}
	b.n++
	return i, nil
}

// AddSeq appends tokens of one sequence at consecutive positions from pos,
// requesting logits for the last token only when lastLogits is set.
func (b *Batch) AddSeq(toks []Token, pos Pos, seq SeqID, lastLogits bool) error {
	if b.n+len(toks) > b.cap {
		return fmt.Errorf("llama: %d tokens do not fit the batch (%d of %d used)", len(toks), b.n, b.cap)
	}
	s := []SeqID{seq}
	for k, t := range toks {
		if _, err := b.Add(t, pos+Pos(k), s, lastLogits && k == len(toks)-1); err != nil {
			return err
		}
	}
	return nil
}

// SetLogits changes whether the i-th token of the batch outputs logits.
func (b *Batch) SetLogits(i int, on bool) {
	if on {
		b.logits[i] = 1
	} else {
		b.logits[i] = 0
	}
}
