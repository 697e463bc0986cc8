package models

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/spectrumkit/spectrum/internal/outfile"
)

// LoRA adapter GGUF conventions (llama.cpp src/llama-adapter.cpp).
const (
	loraSuffixA = ".lora_a"
	loraSuffixB = ".lora_b"
)

// Trained token rows of a model whose output matrix is its token embedding
// (tied), which a llama.cpp LoRA cannot express (its output head would apply
// an embedding LoRA as a projection one): the adapter carries the rows'
// deltas as TensorTokenRows, F32 [n_embd, K], for the token ids under
// KeyTokenRowIDs. Merging adds column k to row ids[k] of token_embd, which
// changes the input embedding and the output logits alike. llama.cpp refuses
// such an adapter ("unexpected suffix"); untied models get ordinary LoRA
// pairs on token_embd and output instead.
const (
	TensorTokenRows = TensorTokenEmbd + ".token_rows"
	KeyTokenRowIDs  = "spectrum.token_rows.ids"
)

// LoRAPair is one adapted base weight: W' = W + scale·B·A in PyTorch terms
// (for the token embedding, rows of A are gathered per token; see MergeDelta).
type LoRAPair struct {
	Base string     // base tensor name, e.g. blk.0.attn_q.weight
	A, B TensorInfo // .lora_a and .lora_b
	Rank int        // lora_b ne[0]
}

// LoRAInfo is a validated LoRA adapter for a given base model.
type LoRAInfo struct {
	Path  string
	Arch  string
	Alpha float32 // adapter.lora.alpha; 0 means no alpha scaling
	Pairs []LoRAPair
	// TokenRows is the tied token rows' tensor (TensorTokenRows) and
	// TokenIDs their ids, or nil.
	TokenRows *TensorInfo
	TokenIDs  []int32
}

// HasTokenRows reports whether an adapter file carries tied token rows
// (TensorTokenRows), which llama.cpp cannot load: fold them in with Merge.
func HasTokenRows(f *File) bool {
	_, ok := f.Tensor(TensorTokenRows)
	return ok
}

// Scale returns the factor llama.cpp multiplies a pair's B·A by for a user
// scale: userScale·alpha/rank, or userScale when alpha is 0
// (llama_adapter_lora_weight::get_scale).
func (l *LoRAInfo) Scale(p LoRAPair, userScale float32) float32 {
	if l.Alpha != 0 {
		return userScale * l.Alpha / float32(p.Rank)
	}
	return userScale
}

// InspectLoRA validates a LoRA adapter against a base model the way
// llama.cpp's llama_adapter_lora_init does: general.type "adapter",
// adapter.type "lora", the base's architecture, tensors named
// <base tensor>.lora_a / .lora_b in complete pairs (tensors ending in
// _norm.weight are ignored), each base tensor present, and shapes lora_a
// [n_in, r], lora_b [r, n_out] for a base [n_in, n_out] — for
// token_embd.weight ([n_embd, n_vocab]) lora_a [r, n_vocab] and lora_b
// [r, n_embd]. Activated LoRA (adapter.alora.invocation_tokens) cannot be
// folded into weights and is an error.
func InspectLoRA(base, adapter *File) (*LoRAInfo, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("models: adapter %s: %s", adapter.pathOr(), fmt.Sprintf(format, args...))
	}
	if typ, err := adapter.String("general.type"); err != nil || typ != "adapter" {
		return nil, fail("not a LoRA adapter (general.type is %q, want \"adapter\")", typ)
	}
	if typ, err := adapter.String("adapter.type"); err != nil || typ != "lora" {
		return nil, fail("adapter.type is %q, want \"lora\"", typ)
	}
	info := &LoRAInfo{Path: adapter.Path}
	info.Arch, _ = adapter.String("general.architecture")
	baseArch, _ := base.String("general.architecture")
	if info.Arch != baseArch {
		return nil, fail("architecture %q does not match the base model's %q", info.Arch, baseArch)
	}
	if adapter.Has("adapter.lora.alpha") {
		a, err := adapter.Float("adapter.lora.alpha")
		if err != nil {
			return nil, fail("%v", err)
		}
		info.Alpha = float32(a)
	}
	if adapter.Has("adapter.alora.invocation_tokens") {
		return nil, fail("an activated LoRA (adapter.alora.invocation_tokens) applies only after its invocation tokens and cannot be merged into the weights")
	}
	halves := map[string][2]*TensorInfo{}
	var order []string
	for i := range adapter.Tensors {
		t := &adapter.Tensors[i]
		var name string
		var half int
		switch {
		case strings.HasSuffix(t.Name, loraSuffixA):
			name = strings.TrimSuffix(t.Name, loraSuffixA)
		case strings.HasSuffix(t.Name, loraSuffixB):
			name, half = strings.TrimSuffix(t.Name, loraSuffixB), 1
		case strings.HasSuffix(t.Name, "_norm.weight"):
			continue // llama.cpp ignores them too
		case t.Name == TensorTokenRows:
			if err := info.tokenRows(base, adapter, t); err != nil {
				return nil, fail("%v", err)
			}
			continue
		default:
			return nil, fail("tensor %s is neither a .lora_a nor a .lora_b", t.Name)
		}
		h, ok := halves[name]
		if !ok {
			order = append(order, name)
		}
		h[half] = t
		halves[name] = h
	}
	if len(order) == 0 && info.TokenRows == nil {
		return nil, fail("no LoRA tensors")
	}
	for _, name := range order {
		h := halves[name]
		if h[0] == nil || h[1] == nil {
			return nil, fail("%s has only one of .lora_a and .lora_b", name)
		}
		a, b := *h[0], *h[1]
		bt, ok := base.Tensor(name)
		if !ok {
			return nil, fail("base tensor %s not found in %s (wrong base model?)", name, base.pathOr())
		}
		if len(bt.Shape) != 2 || len(a.Shape) != 2 || len(b.Shape) != 2 {
			return nil, fail("%s: only 2-D weights can be merged (base %v, lora_a %v, lora_b %v)", name, bt.Shape, a.Shape, b.Shape)
		}
		for _, t := range []TensorInfo{a, b} {
			if !CanDequantize(t.Type) {
				return nil, fail("%s is %v, which cannot be decoded (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)", t.Name, t.Type)
			}
		}
		r := b.Shape[0]
		if name == TensorTokenEmbd {
			if a.Shape[0] != r || a.Shape[1] != bt.Shape[1] || b.Shape[1] != bt.Shape[0] {
				return nil, fail("%s: lora_a %v and lora_b %v do not fit base %v (want lora_a [r, n_vocab], lora_b [r, n_embd])", name, a.Shape, b.Shape, bt.Shape)
			}
		} else if a.Shape[0] != bt.Shape[0] || a.Shape[1] != r || b.Shape[1] != bt.Shape[1] {
			return nil, fail("%s: lora_a %v and lora_b %v do not fit base %v (want lora_a [n_in, r], lora_b [r, n_out])", name, a.Shape, b.Shape, bt.Shape)
		}
		info.Pairs = append(info.Pairs, LoRAPair{Base: name, A: a, B: b, Rank: int(r)})
	}
	return info, nil
}

// tokenRows checks the tied token rows t against the base model.
func (l *LoRAInfo) tokenRows(base, adapter *File, t *TensorInfo) error {
	emb, ok := base.Tensor(TensorTokenEmbd)
	if !ok {
		return fmt.Errorf("the base model has no %s", TensorTokenEmbd)
	}
	if _, untied := base.Tensor(TensorOutput); untied {
		return fmt.Errorf("%s holds token rows for a model with tied output, but %s has its own %s", TensorTokenRows, base.pathOr(), TensorOutput)
	}
	v, ok := adapter.Value(KeyTokenRowIDs)
	ids, isInts := v.([]int32)
	if !ok || !isInts {
		return fmt.Errorf("%s without its token ids (%s)", TensorTokenRows, KeyTokenRowIDs)
	}
	if t.Type != TypeF32 || len(t.Shape) != 2 || t.Shape[0] != emb.Shape[0] || t.Shape[1] != uint64(len(ids)) {
		return fmt.Errorf("%s is %v %v, want F32 [%d, %d]", TensorTokenRows, t.Type, t.Shape, emb.Shape[0], len(ids))
	}
	for _, id := range ids {
		if id < 0 || uint64(id) >= emb.Shape[1] {
			return fmt.Errorf("token row id %d is outside the vocabulary (%d)", id, emb.Shape[1])
		}
	}
	l.TokenRows, l.TokenIDs = t, ids
	return nil
}

// MergeDelta adds scale·ΔW of one LoRA pair to the base weight w (row-major
// [n_out][n_in], i.e. ggml ne [n_in, n_out]), given the decoded lora_a and
// lora_b data. For an ordinary weight (lora_a ne [n_in, r], lora_b ne
// [r, n_out]) W[o][i] += scale·Σ_k B[o][k]·A[k][i]; for token_embd.weight
// (lora_a ne [r, n_vocab], lora_b ne [r, n_embd]) the embedding of token v
// gains scale·Σ_k A[v][k]·B[e][k], which is what llama.cpp's build_inp_embd
// adds at run time.
func MergeDelta(w []float32, nIn, nOut, r int, a, b []float32, scale float32, tokenEmbd bool) error {
	ok := len(w) == nIn*nOut && len(a) == nIn*r && len(b) == r*nOut
	if tokenEmbd {
		ok = len(w) == nIn*nOut && len(a) == r*nOut && len(b) == r*nIn
	}
	if !ok || r <= 0 {
		return fmt.Errorf("models: MergeDelta: sizes do not match (w %d, a %d, b %d for n_in %d, n_out %d, rank %d)", len(w), len(a), len(b), nIn, nOut, r)
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, nOut*nIn*r/(1<<18)))
	var wg sync.WaitGroup
	chunk := (nOut + workers - 1) / workers
	for lo := 0; lo < nOut; lo += chunk {
		hi := min(nOut, lo+chunk)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := lo; o < hi; o++ {
				row := w[o*nIn : (o+1)*nIn]
				if tokenEmbd {
					// row o is token o: row[e] += scale·Σ_k a[o][k]·b[e][k]
					av := a[o*r : (o+1)*r]
					for e := range row {
						bv := b[e*r : (e+1)*r]
						var s float32
						for k, x := range av {
							s += x * bv[k]
						}
						row[e] += scale * s
					}
					continue
				}
				bv := b[o*r : (o+1)*r]
				for k, c := range bv {
					c *= scale
					if c == 0 {
						continue
					}
					ak := a[k*nIn : (k+1)*nIn]
					for i, x := range ak {
						row[i] += c * x
					}
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// MergeAdapter is an adapter to fold in and the scale it would be attached
// with (llama_set_adapter_lora's scale, --lora-scaled).
type MergeAdapter struct {
	Path  string
	Scale float32
}

// MergeOptions tune Merge.
type MergeOptions struct {
	Adapters []MergeAdapter
	// Type is the type of the merged tensors: TypeF32 (the default) or
	// TypeF16.
	Type GGMLType
	// Dequantize also decodes the quantized tensors no adapter touches into
	// Type (llama.cpp's quantizer refuses to convert quantized tensors to
	// another quantized type); otherwise they are copied as they are.
	Dequantize bool
	// Progress, if set, is called after each tensor is written.
	Progress func(done, total int, name string)
	// Context, if set, stops the merge between tensors when it ends; the
	// partial output is removed.
	Context context.Context
}

// MergedAdapter reports one folded adapter.
type MergedAdapter struct {
	Path    string
	Scale   float32 // user scale
	Alpha   float32
	Ranks   []int // distinct ranks
	Tensors int   // adapted base tensors
	// TokenRows counts the tied token rows added to token_embd (at the user
	// scale: the rows are stored as deltas, with no alpha/rank factor).
	TokenRows int
}

// MergeResult describes a finished merge.
type MergeResult struct {
	Adapters []MergedAdapter
	Merged   []string // base tensors that changed
	Notes    []string
}

// Merge writes to outPath the base model with LoRA adapters folded into its
// weights, W' = W + Σ scale·(alpha/r)·B·A, so that the result, loaded
// without adapters, computes what llama.cpp computes with the adapters
// attached at those scales. Adapted tensors are decoded (see CanDequantize),
// merged in float32 and written in opts.Type; the other tensors are copied
// (or decoded, with opts.Dequantize). A tied output (no output.weight) whose
// embedding an adapter changes is untied: output.weight is written with the
// base embedding, as llama.cpp applies embedding adapters to the input only.
// The metadata is the base's, with general.file_type updated. outPath may not
// be an input.
func Merge(basePath, outPath string, opts MergeOptions) (*MergeResult, error) {
	if opts.Type != TypeF32 && opts.Type != TypeF16 {
		return nil, fmt.Errorf("models: merge: tensors can be written as F32 or F16, not %v", opts.Type)
	}
	if len(opts.Adapters) == 0 {
		return nil, errors.New("models: merge: no adapter given")
	}
	inputs := []string{basePath}
	for _, a := range opts.Adapters {
		inputs = append(inputs, a.Path)
	}
	for _, in := range inputs {
		if outfile.SameFile(in, outPath) {
			return nil, fmt.Errorf("models: output %s is an input file; choose another path", outPath)
		}
	}
	base, err := Open(basePath)
	if err != nil {
		return nil, err
	}
	defer base.Close()

	type use struct {
		f     *File
		info  *LoRAInfo
		pair  LoRAPair
		scale float32
	}
	uses := map[string][]use{}
	type rowUse struct {
		f     *File
		info  *LoRAInfo
		scale float32
	}
	var rows []rowUse // tied token rows: added to token_embd, kept tied
	res := &MergeResult{}
	for _, ma := range opts.Adapters {
		af, err := Open(ma.Path)
		if err != nil {
			return nil, err
		}
		defer af.Close()
		li, err := InspectLoRA(base, af)
		if err != nil {
			return nil, err
		}
		rep := MergedAdapter{Path: ma.Path, Scale: ma.Scale, Alpha: li.Alpha, Tensors: len(li.Pairs)}
		if li.TokenRows != nil {
			rows = append(rows, rowUse{af, li, ma.Scale})
			rep.TokenRows = len(li.TokenIDs)
		}
		ranks := map[int]bool{}
		for _, p := range li.Pairs {
			uses[p.Base] = append(uses[p.Base], use{af, li, p, li.Scale(p, ma.Scale)})
			if !ranks[p.Rank] {
				ranks[p.Rank] = true
				rep.Ranks = append(rep.Ranks, p.Rank)
			}
		}
		sort.Ints(rep.Ranks)
		res.Adapters = append(res.Adapters, rep)
	}
	for i := range base.Tensors {
		t := &base.Tensors[i]
		if len(uses[t.Name]) == 0 && !(t.Name == TensorTokenEmbd && len(rows) > 0) {
			continue
		}
		if !CanDequantize(t.Type) {
			return nil, fmt.Errorf("models: base tensor %s is %v, which cannot be decoded for merging (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)", t.Name, t.Type)
		}
		res.Merged = append(res.Merged, t.Name)
	}

	w := NewWriter()
	if err := w.CopyMetadata(base, ""); err != nil {
		return nil, err
	}
	if a, err := base.Uint(KeyAlignment); err == nil {
		if err := w.Set(KeyAlignment, uint32(a)); err != nil {
			return nil, err
		}
	}
	var merged []string
	for _, a := range res.Adapters {
		merged = append(merged, fmt.Sprintf("%s:%g", filepath.Base(a.Path), a.Scale))
	}
	if err := w.Set("spectrum.merge.adapters", merged); err != nil {
		return nil, err
	}

	total := len(base.Tensors)
	_, hasOutput := base.Tensor(TensorOutput)
	untie := !hasOutput && len(uses[TensorTokenEmbd]) > 0
	if untie {
		total++
		res.Notes = append(res.Notes, "the base ties its output to token_embd.weight and an adapter changes the embedding: output.weight is written with the original embedding (llama.cpp applies embedding adapters to the input only)")
	}
	done := 0
	// progress reports a written tensor and stops the merge (by its error)
	// when opts.Context has ended.
	progress := func(name string) error {
		done++
		if opts.Progress != nil {
			opts.Progress(done, total, name)
		}
		if opts.Context != nil {
			return opts.Context.Err()
		}
		return nil
	}
	keptQuantized := false
	for i := range base.Tensors {
		t := base.Tensors[i]
		sec, err := base.TensorSection(t.Name)
		if err != nil {
			return nil, err
		}
		us := uses[t.Name]
		var rs []rowUse
		if t.Name == TensorTokenEmbd {
			rs = rows
		}
		decode := len(us) > 0 || len(rs) > 0 || (opts.Dequantize && t.Type.BlockSize() > 1 && CanDequantize(t.Type) && len(t.Shape) >= 2)
		if !decode {
			if t.Type.BlockSize() > 1 {
				keptQuantized = true
			}
			if err := w.AddFunc(t.Name, t.Type, t.Shape, func(out io.Writer) error {
				_, err := io.Copy(out, io.NewSectionReader(sec, 0, sec.Size()))
				return cmp.Or(err, progress(t.Name))
			}); err != nil {
				return nil, err
			}
		} else {
			if err := w.AddFunc(t.Name, opts.Type, t.Shape, func(out io.Writer) error {
				data, err := base.TensorFloats(t.Name)
				if err != nil {
					return err
				}
				nIn := int(t.Shape[0])
				nOut := len(data) / nIn
				for _, u := range us {
					a, err := u.f.TensorFloats(u.pair.A.Name)
					if err != nil {
						return err
					}
					b, err := u.f.TensorFloats(u.pair.B.Name)
					if err != nil {
						return err
					}
					if err := MergeDelta(data, nIn, nOut, u.pair.Rank, a, b, u.scale, t.Name == TensorTokenEmbd); err != nil {
						return fmt.Errorf("models: merging %s: %w", t.Name, err)
					}
				}
				for _, r := range rs {
					d, err := r.f.TensorFloats(TensorTokenRows)
					if err != nil {
						return err
					}
					for k, id := range r.info.TokenIDs {
						row := data[int(id)*nIn : (int(id)+1)*nIn]
						for e := range row {
							row[e] += r.scale * d[k*nIn+e]
						}
					}
				}
				err = writeFloats(out, opts.Type, data)
				return cmp.Or(err, progress(t.Name))
			}); err != nil {
				return nil, err
			}
		}
		if t.Name == TensorTokenEmbd && untie {
			if opts.Dequantize && t.Type.BlockSize() > 1 && CanDequantize(t.Type) {
				err = w.AddFunc(TensorOutput, opts.Type, t.Shape, func(out io.Writer) error {
					data, err := base.TensorFloats(t.Name)
					if err == nil {
						err = writeFloats(out, opts.Type, data)
					}
					return cmp.Or(err, progress(TensorOutput))
				})
			} else {
				err = w.AddFunc(TensorOutput, t.Type, t.Shape, func(out io.Writer) error {
					_, err := io.Copy(out, io.NewSectionReader(sec, 0, sec.Size()))
					return cmp.Or(err, progress(TensorOutput))
				})
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if !keptQuantized {
		ft := uint32(0) // LLAMA_FTYPE_ALL_F32
		if opts.Type == TypeF16 {
			ft = 1 // LLAMA_FTYPE_MOSTLY_F16
		}
		if err := w.Set("general.file_type", ft); err != nil {
			return nil, err
		}
	}
	w.Protect(inputs...)
	if err := w.WriteFile(outPath); err != nil {
		return nil, err
	}
	return res, nil
}

// writeFloats encodes data as typ (F32 or F16) to out in chunks.
func writeFloats(out io.Writer, typ GGMLType, data []float32) error {
	const chunk = 1 << 16
	buf := make([]byte, chunk*4)
	for len(data) > 0 {
		n := min(chunk, len(data))
		rb, _ := RowBytes(typ, n)
		if err := QuantizeRow(typ, data[:n], buf[:rb]); err != nil {
			return err
		}
		if _, err := out.Write(buf[:rb]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
