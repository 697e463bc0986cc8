package lora

/*
#include <ggml.h>
#include <ggml-backend.h>
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/spectrumkit/spectrum/models"
)

// SupportedArchitectures lists the general.architecture values the trainer
// builds graphs for.
var SupportedArchitectures = []string{"llama", "qwen2", "qwen3", "gemma3"}

// Targets are the projection names LoRA can adapt, in canonical order.
var Targets = []string{"q", "k", "v", "o", "gate", "up", "down"}

// targetTensor maps a target name to its per-block GGUF tensor name.
var targetTensor = map[string]string{
	"q":    "attn_q",
	"k":    "attn_k",
	"v":    "attn_v",
	"o":    "attn_output",
	"gate": "ffn_gate",
	"up":   "ffn_up",
	"down": "ffn_down",
}

// hparams are the hyper-parameters read from the base GGUF.
type hparams struct {
	arch       string
	nLayer     int
	nEmbd      int
	nHead      int
	nHeadKV    int
	headDim    int // key/value length per head
	nFF        int
	nVocab     int
	nCtxTrain  int
	rmsEps     float32
	nRot       int
	ropeMode   int // 0 normal, 2 neox
	ropeBase   float32
	ropeScale  float32 // freq_scale = 1/factor
	nCtxOrig   int
	biasQKV    bool // qwen2
	qkNorm     bool // qwen3, gemma3
	tiedOutput bool

	// gemma3
	gemma      bool      // √n_embd embedding scale, post-attention/FFN norms, GELU-tanh gated FFN
	kqScale    float32   // softmax scale (1/√head_dim unless gemma3 27B)
	nSWA       int       // sliding window (0: none)
	swa        []bool    // per layer: local (sliding-window) attention
	ropeBaseL  []float32 // per-layer RoPE base
	ropeScaleL []float32 // per-layer RoPE frequency scale
	softcap    float32   // final logit soft-capping (0: none)
}

func readUint(f *models.File, key string, def int, required bool) (int, error) {
	if !f.Has(key) {
		if required {
			return 0, fmt.Errorf("lora: base model lacks %s", key)
		}
		return def, nil
	}
	v, err := f.Uint(key)
	if err != nil {
		return 0, fmt.Errorf("lora: %s: %v (per-layer arrays are not supported)", key, err)
	}
	if v > math.MaxInt32 {
		return 0, fmt.Errorf("lora: %s = %d is out of range", key, v)
	}
	return int(v), nil
}

func readFloat(f *models.File, key string, def float64) (float64, error) {
	if !f.Has(key) {
		return def, nil
	}
	v, err := f.Float(key)
	if err != nil {
		return 0, fmt.Errorf("lora: %s: %v", key, err)
	}
	return v, nil
}

func readHparams(f *models.File) (*hparams, error) {
	arch, err := f.String("general.architecture")
	if err != nil {
		return nil, fmt.Errorf("lora: base model has no general.architecture: %v", err)
	}
	supported := false
	for _, a := range SupportedArchitectures {
		if a == arch {
			supported = true
		}
	}
	if !supported {
		return nil, fmt.Errorf("lora: architecture %q is not supported for training (supported: %s)", arch, strings.Join(SupportedArchitectures, ", "))
	}
	hp := &hparams{arch: arch}
	k := func(s string) string { return arch + "." + s }
	if hp.nLayer, err = readUint(f, k("block_count"), 0, true); err != nil {
		return nil, err
	}
	if hp.nEmbd, err = readUint(f, k("embedding_length"), 0, true); err != nil {
		return nil, err
	}
	if hp.nHead, err = readUint(f, k("attention.head_count"), 0, true); err != nil {
		return nil, err
	}
	if hp.nHeadKV, err = readUint(f, k("attention.head_count_kv"), hp.nHead, false); err != nil {
		return nil, err
	}
	if hp.nFF, err = readUint(f, k("feed_forward_length"), 0, true); err != nil {
		return nil, err
	}
	if hp.nCtxTrain, err = readUint(f, k("context_length"), 2048, false); err != nil {
		return nil, err
	}
	if hp.nLayer == 0 || hp.nEmbd == 0 || hp.nHead == 0 || hp.nHeadKV == 0 || hp.nFF == 0 {
		return nil, fmt.Errorf("lora: base model has a zero dimension (layers %d, embd %d, heads %d/%d, ffn %d)", hp.nLayer, hp.nEmbd, hp.nHead, hp.nHeadKV, hp.nFF)
	}
	if hp.nHead%hp.nHeadKV != 0 {
		return nil, fmt.Errorf("lora: %d heads are not a multiple of %d KV heads", hp.nHead, hp.nHeadKV)
	}
	defHead := 0
	if hp.nEmbd%hp.nHead == 0 {
		defHead = hp.nEmbd / hp.nHead
	}
	if hp.headDim, err = readUint(f, k("attention.key_length"), defHead, false); err != nil {
		return nil, err
	}
	vlen, err := readUint(f, k("attention.value_length"), hp.headDim, false)
	if err != nil {
		return nil, err
	}
	if hp.headDim == 0 || vlen != hp.headDim {
		return nil, fmt.Errorf("lora: unsupported head sizes (key %d, value %d)", hp.headDim, vlen)
	}
	if hp.nRot, err = readUint(f, k("rope.dimension_count"), hp.headDim, false); err != nil {
		return nil, err
	}
	if hp.nRot != hp.headDim {
		return nil, fmt.Errorf("lora: partial rotary embeddings (%d of %d) are not supported", hp.nRot, hp.headDim)
	}
	eps, err := readFloat(f, k("attention.layer_norm_rms_epsilon"), 1e-5)
	if err != nil {
		return nil, err
	}
	hp.rmsEps = float32(eps)
	base, err := readFloat(f, k("rope.freq_base"), 10000)
	if err != nil {
		return nil, err
	}
	hp.ropeBase = float32(base)
	hp.ropeScale = 1
	scalingType := "none"
	if f.Has(k("rope.scaling.type")) {
		if scalingType, err = f.String(k("rope.scaling.type")); err != nil {
			return nil, fmt.Errorf("lora: %s: %v", k("rope.scaling.type"), err)
		}
	}
	factor, err := readFloat(f, k("rope.scaling.factor"), 0)
	if err != nil {
		return nil, err
	}
	switch scalingType {
	case "none", "":
	case "linear":
		if factor > 0 {
			hp.ropeScale = float32(1 / factor)
		}
	default:
		return nil, fmt.Errorf("lora: RoPE scaling %q is not supported (none, linear; llama3-style rope_freqs are)", scalingType)
	}
	if hp.nCtxOrig, err = readUint(f, k("rope.scaling.original_context_length"), hp.nCtxTrain, false); err != nil {
		return nil, err
	}
	switch arch {
	case "qwen2":
		hp.ropeMode = 2
		hp.biasQKV = true
	case "qwen3":
		hp.ropeMode = 2
		hp.qkNorm = true
	case "gemma3":
		hp.ropeMode = 2
		hp.qkNorm = true
		hp.gemma = true
	}
	hp.kqScale = float32(1 / math.Sqrt(float64(hp.headDim)))
	hp.ropeBaseL = make([]float32, hp.nLayer)
	hp.ropeScaleL = make([]float32, hp.nLayer)
	hp.swa = make([]bool, hp.nLayer)
	for l := range hp.ropeBaseL {
		hp.ropeBaseL[l], hp.ropeScaleL[l] = hp.ropeBase, hp.ropeScale
	}
	if hp.gemma {
		if err := readGemma3(f, hp); err != nil {
			return nil, err
		}
	}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok {
		return nil, fmt.Errorf("lora: base model has no token_embd.weight")
	}
	if len(emb.Shape) != 2 || int(emb.Shape[0]) != hp.nEmbd {
		return nil, fmt.Errorf("lora: token_embd.weight has shape %v, want [%d, n_vocab]", emb.Shape, hp.nEmbd)
	}
	hp.nVocab = int(emb.Shape[1])
	_, hasOut := f.Tensor("output.weight")
	hp.tiedOutput = !hasOut
	return hp, nil
}

// readGemma3 reads gemma3's attention layout as llama.cpp does
// (llama-model.cpp, LLM_ARCH_GEMMA3): with a positive
// attention.sliding_window, every layer but each 6th (il % 6 == 5) is local
// and uses RoPE base 10000, scale 1; global layers use rope.freq_base and the
// file's scaling. Newer GGUF keys override those defaults when present:
// attention.sliding_window_pattern (a period, or one bool per layer, true =
// local) and rope.freq_base_swa. The attention scale is 1/√key_length
// (1/√(n_embd/n_head) for the 62-layer 27B, as llama.cpp); final logit
// soft-capping is applied when final_logit_softcapping is set.
func readGemma3(f *models.File, hp *hparams) error {
	k := func(s string) string { return hp.arch + "." + s }
	var err error
	if hp.nSWA, err = readUint(f, k("attention.sliding_window"), 0, false); err != nil {
		return err
	}
	if hp.nLayer == 62 {
		hp.kqScale = float32(1 / math.Sqrt(float64(hp.nEmbd/hp.nHead)))
	}
	capping, err := readFloat(f, k("final_logit_softcapping"), 0)
	if err != nil {
		return err
	}
	if capping < 0 || math.IsNaN(capping) || math.IsInf(capping, 0) {
		return fmt.Errorf("lora: %s = %g is invalid", k("final_logit_softcapping"), capping)
	}
	hp.softcap = float32(capping)
	if hp.nSWA == 0 {
		return nil
	}
	baseSWA, err := readFloat(f, k("rope.freq_base_swa"), 10000)
	if err != nil {
		return err
	}
	pattern := 6
	key := k("attention.sliding_window_pattern")
	if v, ok := f.Value(key); ok {
		switch v := v.(type) {
		case []bool:
			if len(v) != hp.nLayer {
				return fmt.Errorf("lora: %s has %d values for %d layers", key, len(v), hp.nLayer)
			}
			copy(hp.swa, v)
			pattern = 0
		default:
			if pattern, err = readUint(f, key, 6, false); err != nil {
				return err
			}
		}
	}
	for l := range hp.swa {
		if pattern > 0 {
			hp.swa[l] = l%pattern < pattern-1
		}
		if hp.swa[l] {
			hp.ropeBaseL[l], hp.ropeScaleL[l] = float32(baseSWA), 1
		}
	}
	return nil
}

// ggmlType converts a models type to the cgo enum.
func ggmlType(t models.GGMLType) C.enum_ggml_type { return C.enum_ggml_type(t) }

// matmulTypes are the stored types a frozen matrix may keep: ggml's CPU
// mul_mat and out_prod (the backward pass through a frozen weight) both
// handle them. F16 and BF16 matrices are widened to F32 at load because the
// CPU out_prod does not support them.
var matmulTypes = map[models.GGMLType]bool{
	models.TypeF32: true, models.TypeQ4_0: true, models.TypeQ4_1: true,
	models.TypeQ5_0: true, models.TypeQ5_1: true, models.TypeQ8_0: true,
	models.TypeQ2_K: true, models.TypeQ3_K: true, models.TypeQ4_K: true,
	models.TypeQ5_K: true, models.TypeQ6_K: true,
	models.TypeIQ4_NL: true, models.TypeIQ4_XS: true,
}

// weightSpec is one base tensor the graph uses.
type weightSpec struct {
	name   string
	shape  []uint64 // expected, ggml order
	matrix bool     // on the gradient path through mul_mat
	lookup bool     // only read by get_rows (token embedding)
	opt    bool     // optional (may be absent)
}

// weightSpecs lists the tensors of the model, with expected shapes.
func weightSpecs(hp *hparams) []weightSpec {
	e, q, kv, ff := uint64(hp.nEmbd), uint64(hp.nHead*hp.headDim), uint64(hp.nHeadKV*hp.headDim), uint64(hp.nFF)
	specs := []weightSpec{
		{name: "token_embd.weight", shape: []uint64{e, uint64(hp.nVocab)}, lookup: !hp.tiedOutput, matrix: hp.tiedOutput},
		{name: "output_norm.weight", shape: []uint64{e}},
		{name: "rope_freqs.weight", shape: []uint64{uint64(hp.nRot / 2)}, opt: true},
	}
	if !hp.tiedOutput {
		specs = append(specs, weightSpec{name: "output.weight", shape: []uint64{e, uint64(hp.nVocab)}, matrix: true})
	}
	for l := 0; l < hp.nLayer; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		specs = append(specs,
			weightSpec{name: p + "attn_norm.weight", shape: []uint64{e}},
			weightSpec{name: p + "attn_q.weight", shape: []uint64{e, q}, matrix: true},
			weightSpec{name: p + "attn_k.weight", shape: []uint64{e, kv}, matrix: true},
			weightSpec{name: p + "attn_v.weight", shape: []uint64{e, kv}, matrix: true},
			weightSpec{name: p + "attn_output.weight", shape: []uint64{q, e}, matrix: true},
			weightSpec{name: p + "ffn_norm.weight", shape: []uint64{e}},
			weightSpec{name: p + "ffn_gate.weight", shape: []uint64{e, ff}, matrix: true},
			weightSpec{name: p + "ffn_up.weight", shape: []uint64{e, ff}, matrix: true},
			weightSpec{name: p + "ffn_down.weight", shape: []uint64{ff, e}, matrix: true},
		)
		if hp.biasQKV {
			specs = append(specs,
				weightSpec{name: p + "attn_q.bias", shape: []uint64{q}},
				weightSpec{name: p + "attn_k.bias", shape: []uint64{kv}},
				weightSpec{name: p + "attn_v.bias", shape: []uint64{kv}},
			)
		}
		if hp.qkNorm {
			specs = append(specs,
				weightSpec{name: p + "attn_q_norm.weight", shape: []uint64{uint64(hp.headDim)}},
				weightSpec{name: p + "attn_k_norm.weight", shape: []uint64{uint64(hp.headDim)}},
			)
		}
		if hp.gemma {
			specs = append(specs,
				weightSpec{name: p + "post_attention_norm.weight", shape: []uint64{e}},
				weightSpec{name: p + "post_ffw_norm.weight", shape: []uint64{e}},
			)
		}
	}
	return specs
}

func sameShape(a, b []uint64) bool {
	// Trailing 1s are insignificant.
	trim := func(s []uint64) []uint64 {
		for len(s) > 1 && s[len(s)-1] == 1 {
			s = s[:len(s)-1]
		}
		return s
	}
	a, b = trim(a), trim(b)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// weights are the frozen base tensors in a backend buffer.
type weights struct {
	ctx *gctx
	buf C.ggml_backend_buffer_t
	t   map[string]tensor
	// stored records each tensor's type in the file (before widening).
	stored map[string]models.GGMLType
}

func (w *weights) free() {
	if w == nil {
		return
	}
	freeBuffer(w.buf)
	w.buf = nil
	w.ctx.free()
}

// loadWeights validates the tensors against the hyper-parameters and copies
// them into a CPU backend buffer, keeping quantized types as stored.
func loadWeights(f *models.File, hp *hparams, be *backend) (*weights, error) {
	specs := weightSpecs(hp)
	type plan struct {
		spec weightSpec
		info *models.TensorInfo
		typ  models.GGMLType // type in memory
	}
	var plans []plan
	for _, s := range specs {
		ti, ok := f.Tensor(s.name)
		if !ok {
			if s.opt {
				continue
			}
			return nil, fmt.Errorf("lora: base model lacks tensor %s", s.name)
		}
		if !sameShape(ti.Shape, s.shape) {
			return nil, fmt.Errorf("lora: tensor %s has shape %v, want %v", s.name, ti.Shape, s.shape)
		}
		typ := ti.Type
		switch {
		case typ == models.TypeF16 || typ == models.TypeBF16:
			typ = models.TypeF32
		case s.matrix && !matmulTypes[typ]:
			return nil, fmt.Errorf("lora: tensor %s has type %s, which the CPU backward pass cannot go through (supported: F32, F16, BF16, %s)", s.name, typ, matmulTypeList())
		case s.lookup && !matmulTypes[typ]:
			return nil, fmt.Errorf("lora: tensor %s has unsupported type %s", s.name, typ)
		case !s.matrix && !s.lookup && typ != models.TypeF32:
			return nil, fmt.Errorf("lora: tensor %s has type %s, want F32", s.name, typ)
		}
		plans = append(plans, plan{spec: s, info: ti, typ: typ})
	}
	ctx, err := newCtx(len(plans)+1, 0)
	if err != nil {
		return nil, err
	}
	w := &weights{ctx: ctx, t: map[string]tensor{}, stored: map[string]models.GGMLType{}}
	for _, p := range plans {
		t := ctx.newN(ggmlType(p.typ), p.info.Shape)
		setName(t, p.spec.name)
		w.t[p.spec.name] = t
		w.stored[p.spec.name] = p.info.Type
	}
	if w.buf, err = be.alloc(ctx); err != nil {
		ctx.free()
		return nil, err
	}
	for _, p := range plans {
		if err := copyTensor(f, p.info, p.typ, w.t[p.spec.name]); err != nil {
			w.free()
			return nil, err
		}
	}
	return w, nil
}

func matmulTypeList() string {
	var names []string
	for t := range matmulTypes {
		if t != models.TypeF32 {
			names = append(names, t.String())
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// copyTensor streams a tensor's data from the file into t, widening F16 and
// BF16 to F32.
func copyTensor(f *models.File, ti *models.TensorInfo, typ models.GGMLType, t tensor) error {
	sec, err := f.TensorSection(ti.Name)
	if err != nil {
		return fmt.Errorf("lora: reading %s: %v", ti.Name, err)
	}
	const chunk = 1 << 22
	if typ == ti.Type {
		buf := make([]byte, chunk)
		for off := int64(0); off < int64(ti.Size); {
			n := min(int64(chunk), int64(ti.Size)-off)
			if _, err := sec.ReadAt(buf[:n], off); err != nil {
				return fmt.Errorf("lora: reading %s: %v", ti.Name, err)
			}
			setBytes(t, buf[:n], int(off))
			off += n
		}
		return nil
	}
	// widen 2-byte floats
	buf := make([]byte, chunk)
	out := make([]byte, 2*chunk)
	for off := int64(0); off < int64(ti.Size); {
		n := min(int64(chunk), int64(ti.Size)-off)
		if _, err := sec.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("lora: reading %s: %v", ti.Name, err)
		}
		for i := int64(0); i < n/2; i++ {
			h := binary.LittleEndian.Uint16(buf[2*i:])
			var v float32
			if ti.Type == models.TypeF16 {
				v = models.F16ToF32(h)
			} else {
				v = math.Float32frombits(uint32(h) << 16)
			}
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
		setBytes(t, out[:2*n], int(2*off))
		off += n
	}
	return nil
}
