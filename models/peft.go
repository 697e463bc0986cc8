package models

// Conversion of LoRA adapters between llama.cpp's GGUF format and PEFT's
// directory format (adapter_config.json + adapter_model.safetensors), so an
// adapter trained here can be served by PEFT or vLLM, and one trained with
// PEFT/TRL evaluated here.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nlpodyssey/safetensors"

	"github.com/spectrumkit/spectrum/internal/outfile"
)

// The PEFT directory's two files.
const (
	PEFTConfigFile  = "adapter_config.json"
	PEFTWeightsFile = "adapter_model.safetensors"
)

// peftModules maps GGUF block tensor kinds to the Hugging Face module paths
// inside a decoder layer; the same for every architecture the trainer
// supports (llama, gemma3, qwen2, qwen3).
var peftModules = map[string]string{
	"attn_q":      "self_attn.q_proj",
	"attn_k":      "self_attn.k_proj",
	"attn_v":      "self_attn.v_proj",
	"attn_output": "self_attn.o_proj",
	"ffn_gate":    "mlp.gate_proj",
	"ffn_up":      "mlp.up_proj",
	"ffn_down":    "mlp.down_proj",
}

// peftKeyPrefix is how PEFT names a causal LM's decoder layers in its saved
// state dict (PeftModel → the model → its decoder's layers).
const peftKeyPrefix = "base_model.model.model.layers."

// peftTokensKey is where PEFT keeps the rows of trainable_token_indices (a
// LoRA's trainable tokens, on the input embedding; a tied lm_head follows
// it): the rows' new values [K, n_embd], not their differences.
const peftTokensKey = "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"

// permutedQK reports whether llama.cpp's converter permuted the rows of
// attn_q and attn_k for an architecture (convert_hf_to_gguf.py's
// LlamaModel.permute, which convert_lora_to_gguf.py also applies to lora_B):
// only "llama"; Gemma and Qwen keep Hugging Face's rotary layout.
func permutedQK(arch string) bool { return arch == "llama" }

// PEFTConfig is the part of PEFT's adapter_config.json this toolkit writes
// and checks.
type PEFTConfig struct {
	PEFTType          string   `json:"peft_type"`
	TaskType          string   `json:"task_type"`
	BaseModel         string   `json:"base_model_name_or_path"`
	R                 int      `json:"r"`
	LoRAAlpha         float64  `json:"lora_alpha"`
	TargetModules     []string `json:"target_modules"`
	LayersToTransform []int    `json:"layers_to_transform"`
	LoRADropout       float64  `json:"lora_dropout"`
	Bias              string   `json:"bias"`
	FanInFanOut       bool     `json:"fan_in_fan_out"`
	UseRSLoRA         bool     `json:"use_rslora"`
	UseDoRA           bool     `json:"use_dora"`
	ModulesToSave     []string `json:"modules_to_save"`
	// TrainableTokenIndices: PEFT's list of token ids (or a map from the
	// embedding module's name to them) whose rows train.
	TrainableTokenIndices any            `json:"trainable_token_indices,omitempty"`
	RankPattern           map[string]any `json:"rank_pattern"`
	AlphaPattern          map[string]any `json:"alpha_pattern"`
	InferenceMode         bool           `json:"inference_mode"`
	InitLoRAWeights       bool           `json:"init_lora_weights"`
	Revision              *string        `json:"revision"`
}

// qkHeads returns the head counts that llama.cpp's q/k row permutation
// used, from the base model's metadata.
func qkHeads(base *File) (nHead, nHeadKV int, err error) {
	arch, _ := base.String("general.architecture")
	h, err := base.Uint(arch + ".attention.head_count")
	if err != nil {
		return 0, 0, fmt.Errorf("models: %s: %w", base.pathOr(), err)
	}
	hkv := h
	if base.Has(arch + ".attention.head_count_kv") {
		if hkv, err = base.Uint(arch + ".attention.head_count_kv"); err != nil {
			return 0, 0, fmt.Errorf("models: %s: %w", base.pathOr(), err)
		}
	}
	return int(h), int(hkv), nil
}

// permuteRows reorders the rows (each of width cols) of m between llama.cpp's
// interleaved rotary layout and Hugging Face's half-split one, head by head:
// within a head of d rows, GGUF row 2i+j is HF row j·d/2+i. toHF goes from
// GGUF to HF, else back.
func permuteRows(m []float32, cols, nHead int, toHF bool) ([]float32, error) {
	rows := len(m) / cols
	if nHead <= 0 || rows%nHead != 0 || (rows/nHead)%2 != 0 {
		return nil, fmt.Errorf("models: %d rows do not split into %d heads of an even size", rows, nHead)
	}
	d := rows / nHead
	out := make([]float32, len(m))
	for h := range nHead {
		for i := range d / 2 {
			for j := range 2 {
				g, hf := h*d+2*i+j, h*d+j*(d/2)+i
				src, dst := g, hf
				if !toHF {
					src, dst = hf, g
				}
				copy(out[dst*cols:(dst+1)*cols], m[src*cols:(src+1)*cols])
			}
		}
	}
	return out, nil
}

// peftName is the PEFT state-dict key of a GGUF block tensor's LoRA factor
// (ab is "A" or "B"), or "" for tensors outside the decoder layers'
// projections.
func peftName(base, ab string) (key, module string, layer int) {
	parts := strings.Split(strings.TrimSuffix(base, ".weight"), ".")
	if len(parts) != 3 || parts[0] != "blk" {
		return "", "", -1
	}
	mod, ok := peftModules[parts[2]]
	n, err := strconv.Atoi(parts[1])
	if !ok || err != nil {
		return "", "", -1
	}
	return peftKeyPrefix + parts[1] + "." + mod + ".lora_" + ab + ".weight", mod[strings.IndexByte(mod, '.')+1:], n
}

// ExportPEFT writes the LoRA adapter GGUF at adapterPath as a PEFT adapter
// directory dir: adapter_config.json (r, lora_alpha, target_modules, and
// layers_to_transform when only some layers are adapted) and
// adapter_model.safetensors (F32, PEFT's key names, lora_A [r, in] and
// lora_B [out, r]). For llama-architecture models the rows of the q and k
// factors B are permuted back to Hugging Face's layout, which needs the
// base model's head counts: basePath is required there and optional
// otherwise (it also names the base in the config). Adapters PEFT's plain
// LoRA cannot express are refused: factors on the embedding or output
// matrix, ranks that differ between weights, no alpha. Each file is written
// atomically; dir is created if needed.
func ExportPEFT(adapterPath, basePath, dir string) error {
	ad, err := Open(adapterPath)
	if err != nil {
		return err
	}
	defer ad.Close()
	info, err := DescribeAdapter(ad)
	if err != nil {
		return err
	}
	if info.AdapterType != "lora" {
		return fmt.Errorf("models: adapter %s: adapter.type %q: only LoRA converts to PEFT", adapterPath, info.AdapterType)
	}
	if ad.Has("adapter.alora.invocation_tokens") {
		return fmt.Errorf("models: adapter %s: an activated LoRA (aLoRA) does not convert to a plain PEFT LoRA", adapterPath)
	}
	var base *File
	if basePath != "" {
		if base, err = Open(basePath); err != nil {
			return err
		}
		defer base.Close()
		if _, err := InspectLoRA(base, ad); err != nil {
			return err
		}
	}
	var nHead, nHeadKV int
	if permutedQK(info.Architecture) {
		if base == nil {
			return fmt.Errorf("models: adapter %s: a %s adapter needs its base model (--base) to undo llama.cpp's q/k row permutation, which depends on the head counts", adapterPath, info.Architecture)
		}
		if nHead, nHeadKV, err = qkHeads(base); err != nil {
			return err
		}
	}
	if len(info.Ranks) != 1 {
		return fmt.Errorf("models: adapter %s: ranks %v differ between weights (PEFT's rank_pattern is not written)", adapterPath, info.Ranks)
	}
	if info.Alpha == 0 {
		return fmt.Errorf("models: adapter %s: no adapter.lora.alpha (llama.cpp then scales by 1, which PEFT expresses only as lora_alpha = r; set alpha)", adapterPath)
	}
	r := info.Ranks[0]
	tensors := map[string]safetensors.TensorView{}
	modules, layers := map[string]bool{}, map[int]bool{}
	for _, t := range ad.Tensors {
		if t.Name == TensorTokenRows {
			continue
		}
		baseName, ok := strings.CutSuffix(t.Name, loraSuffixB)
		if !ok {
			if _, isA := strings.CutSuffix(t.Name, loraSuffixA); !isA {
				return fmt.Errorf("models: adapter %s: tensor %s is not a LoRA factor", adapterPath, t.Name)
			}
			continue
		}
		keyA, mod, layer := peftName(baseName, "A")
		if keyA == "" {
			return fmt.Errorf("models: adapter %s: %s has no PEFT counterpart (only the attention and FFN projections of the decoder layers convert; embedding and output factors do not)", adapterPath, baseName)
		}
		keyB, _, _ := peftName(baseName, "B")
		ta, ok := ad.Tensor(baseName + loraSuffixA)
		if !ok {
			return fmt.Errorf("models: adapter %s: %s has no %s", adapterPath, t.Name, loraSuffixA)
		}
		if len(ta.Shape) != 2 || len(t.Shape) != 2 || ta.Shape[1] != uint64(r) || t.Shape[0] != uint64(r) {
			return fmt.Errorf("models: adapter %s: %s: shapes %v and %v are not [in, %d] and [%d, out]", adapterPath, baseName, ta.Shape, t.Shape, r, r)
		}
		a, err := ad.TensorFloats(ta.Name)
		if err != nil {
			return err
		}
		b, err := ad.TensorFloats(t.Name)
		if err != nil {
			return err
		}
		if nHead > 0 && (mod == "q_proj" || mod == "k_proj") {
			h := nHead
			if mod == "k_proj" {
				h = nHeadKV
			}
			if b, err = permuteRows(b, r, h, true); err != nil {
				return fmt.Errorf("models: adapter %s: %s: %v", adapterPath, baseName, err)
			}
		}
		nIn, nOut := ta.Shape[0], t.Shape[1]
		if tensors[keyA], err = f32View(a, []uint64{uint64(r), nIn}); err != nil {
			return err
		}
		if tensors[keyB], err = f32View(b, []uint64{nOut, uint64(r)}); err != nil {
			return err
		}
		modules[mod], layers[layer] = true, true
	}
	if len(modules) == 0 {
		return fmt.Errorf("models: adapter %s: no LoRA factors", adapterPath)
	}
	cfg := PEFTConfig{
		PEFTType: "LORA", TaskType: "CAUSAL_LM", R: r, LoRAAlpha: info.Alpha,
		TargetModules: slices.Sorted(maps.Keys(modules)), Bias: "none",
		RankPattern: map[string]any{}, AlphaPattern: map[string]any{}, InferenceMode: true, InitLoRAWeights: true,
	}
	if HasTokenRows(ad) {
		// PEFT stores the rows' values: base rows plus our deltas.
		if base == nil {
			return fmt.Errorf("models: adapter %s: its token rows need the base model (--base): PEFT stores the rows' values, not their changes", adapterPath)
		}
		li, _ := InspectLoRA(base, ad) // checked above
		vals, err := tokenRowValues(base, li.TokenIDs)
		if err != nil {
			return err
		}
		d, err := ad.TensorFloats(TensorTokenRows)
		if err != nil {
			return err
		}
		for i := range vals {
			vals[i] += d[i]
		}
		if tensors[peftTokensKey], err = f32View(vals, []uint64{uint64(len(li.TokenIDs)), uint64(len(vals) / len(li.TokenIDs))}); err != nil {
			return err
		}
		cfg.TrainableTokenIndices = li.TokenIDs
	}
	if base != nil {
		cfg.BaseModel, _ = base.String("general.name")
		arch, _ := base.String("general.architecture")
		if n, err := base.Uint(arch + ".block_count"); err == nil && len(layers) < int(n) {
			cfg.LayersToTransform = slices.Sorted(maps.Keys(layers))
		}
	}
	if cfg.BaseModel == "" {
		if v, ok := info.Provenance["base.name"]; ok {
			cfg.BaseModel = v
		}
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("models: %w", err)
	}
	inputs := []string{adapterPath}
	if basePath != "" {
		inputs = append(inputs, basePath)
	}
	if err := outfile.Write(filepath.Join(dir, PEFTWeightsFile), inputs, nil, func(w io.Writer) error {
		return safetensors.SerializeToWriter(tensors, map[string]string{"format": "pt"}, w)
	}); err != nil {
		return fmt.Errorf("models: %w", err)
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return outfile.Write(filepath.Join(dir, PEFTConfigFile), inputs, nil, func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	})
}

func f32View(v []float32, shape []uint64) (safetensors.TensorView, error) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	tv, err := safetensors.NewTensorView(safetensors.F32, shape, b)
	if err != nil {
		return tv, fmt.Errorf("models: %w", err)
	}
	return tv, nil
}

// tokenRowValues decodes rows ids of base's token embedding, row after row.
func tokenRowValues(base *File, ids []int32) ([]float32, error) {
	emb, ok := base.Tensor(TensorTokenEmbd)
	if !ok || len(emb.Shape) != 2 {
		return nil, fmt.Errorf("models: %s has no 2-D %s", base.pathOr(), TensorTokenEmbd)
	}
	if !CanDequantize(emb.Type) {
		return nil, fmt.Errorf("models: %s of %s is %v, which cannot be decoded", TensorTokenEmbd, base.pathOr(), emb.Type)
	}
	e := int(emb.Shape[0])
	rb, err := RowBytes(emb.Type, e)
	if err != nil {
		return nil, err
	}
	sec, err := base.TensorSection(TensorTokenEmbd)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(ids)*e)
	buf := make([]byte, rb)
	for k, id := range ids {
		if id < 0 || uint64(id) >= emb.Shape[1] {
			return nil, fmt.Errorf("models: token id %d is outside the vocabulary (%d)", id, emb.Shape[1])
		}
		if _, err := sec.ReadAt(buf, int64(id)*int64(rb)); err != nil {
			return nil, fmt.Errorf("models: reading %s row %d: %w", TensorTokenEmbd, id, err)
		}
		if err := DequantizeRow(emb.Type, buf, out[k*e:(k+1)*e]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ImportPEFT converts a PEFT LoRA adapter directory dir into a llama.cpp
// LoRA adapter GGUF at outPath for the base model at basePath: keys are
// mapped back to GGUF tensor names, F16/BF16 factors widen to F32, the q/k
// factors of llama-architecture models are permuted to llama.cpp's layout,
// and every shape is checked against the base. What a plain LoRA GGUF
// cannot express is refused with the reason: DoRA, rsLoRA, modules_to_save,
// per-module rank or alpha patterns, biases, fan_in_fan_out layouts, and
// factors on anything but the decoder layers' projections.
func ImportPEFT(dir, basePath, outPath string) error {
	raw, err := os.ReadFile(filepath.Join(dir, PEFTConfigFile))
	if err != nil {
		return fmt.Errorf("models: PEFT adapter %s: %w", dir, err)
	}
	var cfg PEFTConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("models: PEFT adapter %s: %s: %w", dir, PEFTConfigFile, err)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("models: PEFT adapter %s: %s", dir, fmt.Sprintf(format, args...))
	}
	switch {
	case cfg.PEFTType != "LORA":
		return fail("peft_type %q: only LORA converts", cfg.PEFTType)
	case cfg.UseDoRA:
		return fail("DoRA (use_dora) has a magnitude vector a LoRA GGUF cannot hold")
	case cfg.UseRSLoRA:
		return fail("rsLoRA (use_rslora) scales by alpha/√r, llama.cpp by alpha/r")
	case len(cfg.ModulesToSave) > 0:
		return fail("modules_to_save %v are full trained copies, not LoRA factors", cfg.ModulesToSave)
	case len(cfg.RankPattern) > 0 || len(cfg.AlphaPattern) > 0:
		return fail("rank_pattern/alpha_pattern: llama.cpp has one alpha per adapter")
	case cfg.Bias != "" && cfg.Bias != "none":
		return fail("bias %q: trained biases are not LoRA factors", cfg.Bias)
	case cfg.FanInFanOut:
		return fail("fan_in_fan_out (Conv1D layouts) is not supported")
	case cfg.R <= 0 || !(cfg.LoRAAlpha > 0) || math.IsInf(cfg.LoRAAlpha, 0):
		return fail("r %d and lora_alpha %v must be positive", cfg.R, cfg.LoRAAlpha)
	}
	wraw, err := os.ReadFile(filepath.Join(dir, PEFTWeightsFile))
	if err != nil {
		return fail("%v", err)
	}
	st, err := safetensors.Deserialize(wraw)
	if err != nil {
		return fail("%s: %v", PEFTWeightsFile, err)
	}
	base, err := Open(basePath)
	if err != nil {
		return err
	}
	defer base.Close()
	arch, _ := base.String("general.architecture")
	var nHead, nHeadKV int
	if permutedQK(arch) {
		if nHead, nHeadKV, err = qkHeads(base); err != nil {
			return err
		}
	}
	ggufOf := map[string]string{} // PEFT module path → GGUF kind
	for k, v := range peftModules {
		ggufOf[v] = k
	}
	type pair struct{ a, b *safetensors.TensorView }
	pairs := map[string]*pair{}
	var tokenRows *safetensors.TensorView
	for _, nt := range st.Tensors() {
		if nt.Name == peftTokensKey {
			tv := nt.TensorView
			tokenRows = &tv
			continue
		}
		rest, ok := strings.CutPrefix(nt.Name, peftKeyPrefix)
		var ab string
		if ok {
			switch {
			case strings.HasSuffix(rest, ".lora_A.weight"):
				rest, ab = strings.TrimSuffix(rest, ".lora_A.weight"), "a"
			case strings.HasSuffix(rest, ".lora_B.weight"):
				rest, ab = strings.TrimSuffix(rest, ".lora_B.weight"), "b"
			}
		}
		layer, mod, _ := strings.Cut(rest, ".")
		kind, known := ggufOf[mod]
		if _, err := strconv.Atoi(layer); ab == "" || !known || err != nil {
			return fail("tensor %s is not a LoRA factor of a decoder layer's projection (embedding factors, magnitude vectors and saved modules do not convert)", nt.Name)
		}
		name := "blk." + layer + "." + kind + ".weight"
		p := pairs[name]
		if p == nil {
			p = &pair{}
			pairs[name] = p
		}
		tv := nt.TensorView
		if ab == "a" {
			p.a = &tv
		} else {
			p.b = &tv
		}
	}
	if len(pairs) == 0 && tokenRows == nil {
		return fail("no LoRA factors in %s", PEFTWeightsFile)
	}
	names := slices.Collect(maps.Keys(pairs))
	sort.Slice(names, func(i, j int) bool { return tensorOrder(names[i]) < tensorOrder(names[j]) })
	w := NewWriter()
	for _, kv := range []KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.type", Value: "adapter"},
		{Key: "adapter.type", Value: "lora"},
		{Key: "adapter.lora.alpha", Value: float32(cfg.LoRAAlpha)},
		{Key: "spectrum.source", Value: "peft"},
	} {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	if err := importTokenRows(w, base, cfg.TrainableTokenIndices, tokenRows); err != nil {
		return fail("%v", err)
	}
	for _, name := range names {
		p := pairs[name]
		if p.a == nil || p.b == nil {
			return fail("%s has only one of lora_A and lora_B", name)
		}
		bt, ok := base.Tensor(name)
		if !ok || len(bt.Shape) != 2 {
			return fail("the base model %s has no matrix %s", basePath, name)
		}
		nIn, nOut := bt.Shape[0], bt.Shape[1]
		r := uint64(cfg.R)
		if !slices.Equal(p.a.Shape(), []uint64{r, nIn}) || !slices.Equal(p.b.Shape(), []uint64{nOut, r}) {
			return fail("%s: lora_A %v and lora_B %v, want [%d, %d] and [%d, %d] for r = %d and the base's %v", name, p.a.Shape(), p.b.Shape(), r, nIn, nOut, r, r, bt.Shape)
		}
		a, err := viewFloats(*p.a)
		if err != nil {
			return fail("%s: %v", name, err)
		}
		b, err := viewFloats(*p.b)
		if err != nil {
			return fail("%s: %v", name, err)
		}
		if nHead > 0 && (strings.HasSuffix(name, ".attn_q.weight") || strings.HasSuffix(name, ".attn_k.weight")) {
			h := nHead
			if strings.HasSuffix(name, ".attn_k.weight") {
				h = nHeadKV
			}
			if b, err = permuteRows(b, int(r), h, false); err != nil {
				return fail("%s: %v", name, err)
			}
		}
		if err := w.AddF32(name+loraSuffixA, []uint64{nIn, r}, a); err != nil {
			return err
		}
		if err := w.AddF32(name+loraSuffixB, []uint64{r, nOut}, b); err != nil {
			return err
		}
	}
	w.Protect(basePath, filepath.Join(dir, PEFTWeightsFile), filepath.Join(dir, PEFTConfigFile))
	return w.WriteFile(outPath)
}

// importTokenRows turns PEFT's trainable tokens (the rows' values under
// trainable_token_indices) into the tied token rows of a GGUF adapter (their
// differences from base's rows; see TensorTokenRows).
func importTokenRows(w *Writer, base *File, indices any, rows *safetensors.TensorView) error {
	if indices == nil && rows == nil {
		return nil
	}
	if rows == nil {
		return fmt.Errorf("trainable_token_indices is set but %s has no %s", PEFTWeightsFile, peftTokensKey)
	}
	list := indices
	if m, ok := indices.(map[string]any); ok {
		if len(m) != 1 || m["embed_tokens"] == nil {
			return fmt.Errorf("trainable_token_indices %v: only the input embedding (embed_tokens) converts", indices)
		}
		list = m["embed_tokens"]
	}
	raw, ok := list.([]any)
	if !ok || len(raw) == 0 {
		return fmt.Errorf("trainable_token_indices %v is not a list of token ids", indices)
	}
	ids := make([]int32, len(raw))
	for i, v := range raw {
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || f < 0 || f > math.MaxInt32 {
			return fmt.Errorf("trainable_token_indices: %v is not a token id", v)
		}
		ids[i] = int32(f)
	}
	if _, untied := base.Tensor(TensorOutput); untied {
		return fmt.Errorf("trainable tokens convert only for a base whose output matrix is its embedding (tied); %s has its own %s", base.pathOr(), TensorOutput)
	}
	vals, err := tokenRowValues(base, ids)
	if err != nil {
		return err
	}
	e := len(vals) / len(ids)
	if !slices.Equal(rows.Shape(), []uint64{uint64(len(ids)), uint64(e)}) {
		return fmt.Errorf("%s has shape %v, want [%d, %d]", peftTokensKey, rows.Shape(), len(ids), e)
	}
	got, err := viewFloats(*rows)
	if err != nil {
		return err
	}
	for i := range vals {
		vals[i] = got[i] - vals[i]
	}
	if err := w.Set(KeyTokenRowIDs, ids); err != nil {
		return err
	}
	return w.AddF32(TensorTokenRows, []uint64{uint64(e), uint64(len(ids))}, vals)
}

// tensorOrder sorts block tensors by layer number, then kind.
func tensorOrder(name string) string {
	parts := strings.SplitN(name, ".", 3)
	if len(parts) == 3 {
		if n, err := strconv.Atoi(parts[1]); err == nil {
			return fmt.Sprintf("%08d.%s", n, parts[2])
		}
	}
	return name
}

// viewFloats decodes an F32, F16 or BF16 safetensors tensor.
func viewFloats(tv safetensors.TensorView) ([]float32, error) {
	data := tv.Data()
	switch tv.DType() {
	case safetensors.F32:
		out := make([]float32, len(data)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		return out, nil
	case safetensors.F16:
		out := make([]float32, len(data)/2)
		for i := range out {
			out[i] = F16ToF32(binary.LittleEndian.Uint16(data[2*i:]))
		}
		return out, nil
	case safetensors.BF16:
		out := make([]float32, len(data)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(data[2*i:])) << 16)
		}
		return out, nil
	}
	return nil, errors.New("dtype " + tv.DType().String() + ": want F32, F16 or BF16")
}
