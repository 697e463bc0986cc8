package lora

/*
#include <ggml.h>
#include <ggml-backend.h>
*/
import "C"

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/spectrumkit/spectrum/models"
)

// Token rows (Config.TrainTokens): the rows of the token embedding for a
// few token ids, and of the output matrix, become trainable as deltas
// added to the frozen rows. LoRA on the projections cannot move a token's
// own embedding; the spectrum format's turn tokens, which a base model has
// barely seen, need exactly that (the reference copies them from the
// instruct model or trains embeddings).
//
// In the graph the input delta is gathered per token (get_rows on each
// token's slot, times a 0/1 mask for tokens without a row) and added to the
// embedding before Gemma's √n_embd scaling, as llama.cpp adds an embedding
// LoRA and as merging the delta into the matrix would. The output delta
// adds Δ_k·h to the logit of ids[k]: a [K, nOut] product scattered into the
// n_vocab-wide logits by a constant one-hot [K, n_vocab] matrix.
//
// A model whose output matrix is its embedding (tied: Gemma, SmolLM2) has
// one delta serving both, as PEFT's trainable tokens do for tied weights;
// other models have separate input and output deltas.

// Names of the token-row tensors in checkpoints and gradients. Adapters of
// tied models carry TokenRowsIn too (models.TensorTokenRows, which merge
// folds in and llama.cpp refuses); those of untied models carry exact LoRA
// pairs on token_embd and output instead (writeTokenRows).
const (
	TokenRowsIn  = models.TensorTokenRows     // Δ embedding rows [n_embd, K] (tied: also the output rows)
	TokenRowsOut = "output.weight.token_rows" // Δ output rows [n_embd, K] (untied models)
)

type tokenRows struct {
	ids  []int32         // sorted, distinct
	slot map[int32]int32 // token id → column of in/out
	tied bool            // the output matrix is token_embd: in serves both

	in, gin, min, vin     tensor // Δ embedding rows [n_embd, K] and its gradient and AdamW moments
	out, gout, mout, vout tensor // Δ output rows (untied models; nil when tied)
	sel                   tensor // constant one-hot [K, n_vocab]: sel[k, ids[k]] = 1

	ctx *gctx
	buf C.ggml_backend_buffer_t
}

// stateTensors lists the rows' checkpointed tensors.
func (r *tokenRows) stateTensors(nEmbd int) []namedTensor {
	s := []uint64{uint64(nEmbd), uint64(len(r.ids))}
	ts := []namedTensor{
		{TokenRowsIn, s, r.in}, {TokenRowsIn + ".adam_m", s, r.min}, {TokenRowsIn + ".adam_v", s, r.vin},
	}
	if !r.tied {
		ts = append(ts, namedTensor{TokenRowsOut, s, r.out},
			namedTensor{TokenRowsOut + ".adam_m", s, r.mout}, namedTensor{TokenRowsOut + ".adam_v", s, r.vout})
	}
	return ts
}

// makeTokenRows creates the token-row tensors for cfg.TrainTokens (none:
// nothing to do).
func (t *Trainer) makeTokenRows() error {
	if len(t.cfg.TrainTokens) == 0 {
		return nil
	}
	ids := slices.Clone(t.cfg.TrainTokens)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if id < 0 || int(id) >= t.hp.nVocab {
			return fmt.Errorf("lora: TrainTokens: token id %d is outside the vocabulary (%d)", id, t.hp.nVocab)
		}
	}
	t.cfg.TrainTokens = ids
	r := &tokenRows{ids: ids, slot: map[int32]int32{}, tied: t.w.t["output.weight"] == nil}
	for k, id := range ids {
		r.slot[id] = int32(k)
	}
	var err error
	if r.ctx, err = newCtx(16, 0); err != nil {
		return err
	}
	e, k := t.hp.nEmbd, len(ids)
	mk := func(name string) (p, g, m, v tensor) {
		p = r.ctx.new2(C.GGML_TYPE_F32, e, k)
		setName(p, name)
		C.ggml_set_param(p)
		g = r.ctx.new2(C.GGML_TYPE_F32, e, k)
		m = r.ctx.new2(C.GGML_TYPE_F32, e, k)
		v = r.ctx.new2(C.GGML_TYPE_F32, e, k)
		t.gradOf[p] = g
		return
	}
	r.in, r.gin, r.min, r.vin = mk(TokenRowsIn)
	if !r.tied {
		r.out, r.gout, r.mout, r.vout = mk(TokenRowsOut)
	}
	r.sel = r.ctx.new2(C.GGML_TYPE_F32, k, t.hp.nVocab)
	setName(r.sel, "token_rows_select")
	if r.buf, err = t.be.alloc(r.ctx); err != nil {
		r.ctx.free()
		return err
	}
	C.ggml_backend_buffer_clear(r.buf, 0) // Δ = 0: training starts from the base rows
	one := float32(1)
	for k, id := range ids {
		C.ggml_backend_tensor_set(r.sel, unsafe.Pointer(&one), C.size_t((int(id)*len(ids)+k)*4), 4)
	}
	t.rows = r
	return nil
}

// free releases the rows' tensors.
func (r *tokenRows) free() {
	if r == nil {
		return
	}
	if r.buf != nil {
		freeBuffer(r.buf)
		r.buf = nil
	}
	if r.ctx != nil {
		r.ctx.free()
		r.ctx = nil
	}
}

// slots fills the per-token slot and mask inputs of a batch: a token with a
// trainable row gathers its column (mask 1), the others column 0 (mask 0).
func (r *tokenRows) slots(ids []int32) (slot []int32, mask []float32) {
	slot = make([]int32, len(ids))
	mask = make([]float32, len(ids))
	for i, id := range ids {
		if k, ok := r.slot[id]; ok {
			slot[i], mask[i] = k, 1
		}
	}
	return slot, mask
}

// embedDelta is the rows' contribution to the embedding of the batch's
// tokens [n_embd, n].
func (b *builder) embedDelta() tensor {
	d := C.ggml_get_rows(b.c, b.t.rows.in, b.in.slots)
	return C.ggml_mul(b.c, d, b.in.slotMask)
}

// logitsDelta is the rows' contribution to the logits of the normed final
// hidden states x [n_embd, rows]: [n_vocab, rows], non-zero only on ids.
func (b *builder) logitsDelta(x tensor) tensor {
	r := b.t.rows
	d := r.out
	if r.tied {
		d = r.in
	}
	z := C.ggml_mul_mat(b.c, d, x) // [K, rows]
	return C.ggml_mul_mat(b.c, r.sel, z)
}

// writeTokenRows adds the rows to an adapter being written. Tied models:
// TokenRowsIn as it is. Untied models: a LoRA pair of rank K on token_embd
// (lora_a one-hot [K, n_vocab], lora_b [K, n_embd] = Δᵀ·K/alpha, which
// llama.cpp's build_inp_embd gathers per token and scales by alpha/K) and
// one on output (lora_a = Δ_out [n_embd, K], lora_b one-hot·K/alpha
// [K, n_vocab]): the same sums, exact up to float rounding. The ids go in
// models.KeyTokenRowIDs either way.
func (t *Trainer) writeTokenRows(w *models.Writer) error {
	r := t.rows
	if r == nil {
		return nil
	}
	if err := w.Set(models.KeyTokenRowIDs, slices.Clone(r.ids)); err != nil {
		return err
	}
	e, nv, k := t.hp.nEmbd, t.hp.nVocab, len(r.ids)
	din := getF32(r.in) // column k at [k·e, (k+1)·e)
	if r.tied {
		return w.AddF32(TokenRowsIn, []uint64{uint64(e), uint64(k)}, din)
	}
	s := float32(float64(k) / t.cfg.Alpha)
	onehot := func(v float32) []float32 { // [K, n_vocab]
		x := make([]float32, k*nv)
		for j, id := range r.ids {
			x[int(id)*k+j] = v
		}
		return x
	}
	b := make([]float32, k*e) // [K, n_embd]
	for j := 0; j < k; j++ {
		for i := 0; i < e; i++ {
			b[i*k+j] = din[j*e+i] * s
		}
	}
	for _, x := range []struct {
		name  string
		shape []uint64
		data  []float32
	}{
		{models.TensorTokenEmbd + ".lora_a", []uint64{uint64(k), uint64(nv)}, onehot(1)},
		{models.TensorTokenEmbd + ".lora_b", []uint64{uint64(k), uint64(e)}, b},
		{models.TensorOutput + ".lora_a", []uint64{uint64(e), uint64(k)}, getF32(r.out)},
		{models.TensorOutput + ".lora_b", []uint64{uint64(k), uint64(nv)}, onehot(s)},
	} {
		if err := w.AddF32(x.name, x.shape, x.data); err != nil {
			return err
		}
	}
	return nil
}

// readTokenRows reads the rows' deltas back from an adapter written by
// writeTokenRows (LoadAdapter): the values for r.in and, untied, r.out.
func (t *Trainer) readTokenRows(f *models.File) (map[tensor][]float32, []string, error) {
	r := t.rows
	v, _ := f.Value(models.KeyTokenRowIDs)
	ids, _ := v.([]int32)
	if r == nil {
		if ids != nil || models.HasTokenRows(f) {
			return nil, nil, fmt.Errorf("it trains token rows (%v), the trainer none (set TrainTokens)", ids)
		}
		return nil, nil, nil
	}
	if !slices.Equal(ids, r.ids) {
		return nil, nil, fmt.Errorf("its token rows are for ids %v, the trainer's for %v", ids, r.ids)
	}
	e, nv, k := t.hp.nEmbd, t.hp.nVocab, len(r.ids)
	get := func(name string, shape ...uint64) ([]float32, error) {
		ti, ok := f.Tensor(name)
		if !ok {
			return nil, fmt.Errorf("no %s", name)
		}
		if !slices.Equal(ti.Shape, shape) {
			return nil, fmt.Errorf("%s has shape %v, want %v", name, ti.Shape, shape)
		}
		return f.TensorFloats(name)
	}
	if r.tied {
		d, err := get(TokenRowsIn, uint64(e), uint64(k))
		return map[tensor][]float32{r.in: d}, []string{TokenRowsIn}, err
	}
	names := []string{models.TensorTokenEmbd + ".lora_a", models.TensorTokenEmbd + ".lora_b",
		models.TensorOutput + ".lora_a", models.TensorOutput + ".lora_b"}
	a, err := get(names[0], uint64(k), uint64(nv))
	if err != nil {
		return nil, nil, err
	}
	b, err := get(names[1], uint64(k), uint64(e))
	if err != nil {
		return nil, nil, err
	}
	dout, err := get(names[2], uint64(e), uint64(k))
	if err != nil {
		return nil, nil, err
	}
	ob, err := get(names[3], uint64(k), uint64(nv))
	if err != nil {
		return nil, nil, err
	}
	s := float32(float64(k) / t.cfg.Alpha)
	for j, id := range r.ids {
		if a[int(id)*k+j] != 1 || ob[int(id)*k+j] != s {
			return nil, nil, fmt.Errorf("the token_embd/output pairs are not token rows for ids %v", r.ids)
		}
	}
	din := make([]float32, e*k)
	for j := 0; j < k; j++ {
		for i := 0; i < e; i++ {
			din[j*e+i] = b[i*k+j] / s
		}
	}
	return map[tensor][]float32{r.in: din, r.out: dout}, names, nil
}
