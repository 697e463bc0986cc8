package lora

/*
#include <ggml.h>
#include <ggml-backend.h>
*/
import "C"

import (
	"fmt"
	"math"
	"slices"
	"unsafe"
)

// pair is one trainable LoRA pair on a base projection:
// y = W·x + scale·B·(A·x), A [n_in, r], B [r, n_out] (ggml order).
type pair struct {
	target string // "q", ..., "down"
	layer  int
	base   string // base tensor name, e.g. blk.3.attn_q.weight
	nIn    int
	nOut   int
	rank   int
	scale  float32 // alpha / rank

	a, b   tensor // parameters
	ga, gb tensor // gradient accumulators
	ma, va tensor // AdamW moments of a
	mb, vb tensor // AdamW moments of b
}

// batch is one micro-batch: rows packed into one token sequence whose
// attention mask is block-diagonal and causal.
type batch struct {
	ids    []int32
	pos    []int32
	rowOf  []int32 // row index of each token, for the mask
	outIdx []int32 // positions whose next-token prediction is scored
	labels []int32 // the token each outIdx position must predict
}

func (mb *batch) n() int { return len(mb.ids) }

// graphMode says what a graph computes.
type graphMode int

const (
	modeTrain  graphMode = iota // loss + backward into the gradient accumulators
	modeEval                    // loss only
	modeLogits                  // logits at outIdx only
)

// inputs are the per-batch input tensors of a graph.
type inputs struct {
	ids, pos, mask, maskSWA, out, labels tensor
	slots, slotMask                      tensor // token rows: each token's column and 0/1 (TrainTokens)
	nSWA                                 int    // sliding window of maskSWA
}

// graphSize is the node budget of one training graph.
func (t *Trainer) graphSize() int { return 1024*t.hp.nLayer + 2048 }

// builder builds (parts of) the model graph in one context for one batch.
type builder struct {
	t      *Trainer
	g      *gctx
	c      *C.struct_ggml_context
	in     inputs
	n      int
	nOut   int
	gather bool
	// dequant makes the frozen matrices enter mul_mat as F32 copies made
	// in the graph (ggml_cast), so that the backward pass through them is an
	// F32 out_prod (what CUDA supports).
	dequant bool
}

// newBuilder creates the per-graph inputs for a batch of n tokens with
// logits at nOut gathered positions.
func (t *Trainer) newBuilder(g *gctx, n, nOut int, dequant bool) *builder {
	hp := t.hp
	b := &builder{t: t, g: g, c: g.c, n: n, nOut: nOut, gather: nOut != n, dequant: dequant}
	in := &b.in
	in.ids = g.new1(C.GGML_TYPE_I32, n)
	setName(in.ids, "ids")
	C.ggml_set_input(in.ids)
	in.pos = g.new1(C.GGML_TYPE_I32, n)
	setName(in.pos, "pos")
	C.ggml_set_input(in.pos)
	in.mask = g.new2(C.GGML_TYPE_F32, n, n)
	setName(in.mask, "kq_mask")
	C.ggml_set_input(in.mask)
	if hp.nSWA > 0 && slices.Contains(hp.swa, true) {
		in.nSWA = hp.nSWA
		in.maskSWA = g.new2(C.GGML_TYPE_F32, n, n)
		setName(in.maskSWA, "kq_mask_swa")
		C.ggml_set_input(in.maskSWA)
	}
	if t.rows != nil {
		in.slots = g.new1(C.GGML_TYPE_I32, n)
		setName(in.slots, "token_slots")
		C.ggml_set_input(in.slots)
		in.slotMask = g.new2(C.GGML_TYPE_F32, 1, n)
		setName(in.slotMask, "token_slot_mask")
		C.ggml_set_input(in.slotMask)
	}
	if b.gather {
		in.out = g.new1(C.GGML_TYPE_I32, nOut)
		setName(in.out, "out_ids")
		C.ggml_set_input(in.out)
	}
	return b
}

// forward builds the whole forward graph and returns the logits.
func (t *Trainer) forward(g *gctx, n, nOut int, dequant bool) (inputs, tensor) {
	b := t.newBuilder(g, n, nOut, dequant)
	x := b.embed()
	for l := 0; l < t.hp.nLayer; l++ {
		x = b.layer(x, l)
	}
	return b.in, b.head(x)
}

// matmul is W·x for a frozen matrix W.
func (b *builder) matmul(w, x tensor) tensor {
	if b.dequant && w._type != C.GGML_TYPE_F32 {
		if cp := b.t.f32.copyOf(w); cp != nil {
			w = cp
		} else {
			w = C.ggml_cast(b.c, w, C.GGML_TYPE_F32)
		}
	}
	return C.ggml_mul_mat(b.c, w, x)
}

func (b *builder) norm(x, weight tensor) tensor {
	return C.ggml_mul(b.c, C.ggml_rms_norm(b.c, x, C.float(b.t.hp.rmsEps)), weight)
}

// embed is the token embedding [n_embd, n].
func (b *builder) embed() tensor {
	x := C.ggml_get_rows(b.c, b.t.w.t["token_embd.weight"], b.in.ids)
	if b.t.rows != nil {
		x = C.ggml_add(b.c, x, b.embedDelta())
	}
	if b.t.hp.gemma {
		x = C.ggml_scale(b.c, x, C.float(math.Sqrt(float64(b.t.hp.nEmbd))))
	}
	return x
}

// layer is transformer block l applied to x [n_embd, n]; the last block
// keeps only the gathered positions when the batch gathers.
func (b *builder) layer(x tensor, l int) tensor {
	t, hp, c, in, n := b.t, b.t.hp, b.c, &b.in, b.n
	w := t.w.t
	lin := func(x tensor, target string) tensor {
		name := fmt.Sprintf("blk.%d.%s.weight", l, targetTensor[target])
		y := b.matmul(w[name], x)
		if p := t.pairAt[pairKey{l, target}]; p != nil {
			ab := C.ggml_mul_mat(c, p.b, C.ggml_mul_mat(c, p.a, x))
			y = C.ggml_add(c, y, C.ggml_scale(c, ab, C.float(p.scale)))
		}
		return y
	}
	ropeFreqs := w["rope_freqs.weight"] // nil when absent
	rope := func(x tensor) tensor {
		return C.ggml_rope_ext(c, x, in.pos, ropeFreqs, C.int(hp.nRot), C.int(hp.ropeMode), C.int(hp.nCtxOrig),
			C.float(hp.ropeBaseL[l]), C.float(hp.ropeScaleL[l]), 0, 1, 32, 1)
	}
	hd := C.int64_t(hp.headDim)
	p := fmt.Sprintf("blk.%d.", l)

	cur := b.norm(x, w[p+"attn_norm.weight"])
	q := lin(cur, "q")
	k := lin(cur, "k")
	v := lin(cur, "v")
	if hp.biasQKV {
		q = C.ggml_add(c, q, w[p+"attn_q.bias"])
		k = C.ggml_add(c, k, w[p+"attn_k.bias"])
		v = C.ggml_add(c, v, w[p+"attn_v.bias"])
	}
	q = C.ggml_reshape_3d(c, q, hd, C.int64_t(hp.nHead), C.int64_t(n))
	k = C.ggml_reshape_3d(c, k, hd, C.int64_t(hp.nHeadKV), C.int64_t(n))
	v = C.ggml_reshape_3d(c, v, hd, C.int64_t(hp.nHeadKV), C.int64_t(n))
	if hp.qkNorm {
		q = b.norm(q, w[p+"attn_q_norm.weight"])
		k = b.norm(k, w[p+"attn_k_norm.weight"])
	}
	q = rope(q)
	k = rope(k)
	mask := in.mask
	if hp.swa[l] && in.maskSWA != nil {
		mask = in.maskSWA
	}

	qp := C.ggml_permute(c, q, 0, 2, 1, 3)                 // [hd, n, nHead]
	kp := C.ggml_permute(c, k, 0, 2, 1, 3)                 // [hd, n, nHeadKV]
	vt := C.ggml_cont(c, C.ggml_permute(c, v, 1, 2, 0, 3)) // [n, hd, nHeadKV]
	var kq, kqv tensor
	if hp.nHeadKV == 1 {
		// One K/V head (Gemma 3 270M and 1B): every query head multiplies
		// the same K and V, so the per-head products are single 2-D
		// products over all heads' rows. Same arithmetic, but 2-D
		// products and their backward out_prods run on BLAS where one is
		// loaded (ggml-blas takes matrices only; the 3-D out_prods of the
		// general path fall to ggml's vec_mad loops: 11% of a Gemma step).
		nh := C.int64_t(hp.nHead)
		q2 := C.ggml_reshape_2d(c, C.ggml_cont(c, qp), hd, C.int64_t(n)*nh) // [hd, n·nHead]
		k2 := C.ggml_reshape_2d(c, C.ggml_cont(c, kp), hd, C.int64_t(n))    // [hd, n]
		kq = C.ggml_reshape_3d(c, C.ggml_mul_mat(c, k2, q2), C.int64_t(n), C.int64_t(n), nh)
		kq = C.ggml_soft_max_ext(c, kq, mask, C.float(hp.kqScale), 0)
		v2 := C.ggml_reshape_2d(c, vt, C.int64_t(n), hd) // [n, hd]
		kqv = C.ggml_mul_mat(c, v2, C.ggml_reshape_2d(c, kq, C.int64_t(n), C.int64_t(n)*nh))
		kqv = C.ggml_reshape_3d(c, kqv, hd, C.int64_t(n), nh) // [hd, n_q, nHead]
	} else {
		kq = C.ggml_mul_mat(c, kp, qp)                                // [n_k, n_q, nHead]
		kq = C.ggml_soft_max_ext(c, kq, mask, C.float(hp.kqScale), 0) // causal, per row
		kqv = C.ggml_mul_mat(c, vt, kq)                               // [hd, n_q, nHead]
	}
	o := C.ggml_permute(c, kqv, 0, 2, 1, 3) // [hd, nHead, n_q]
	o = C.ggml_cont_2d(c, o, hd*C.int64_t(hp.nHead), C.int64_t(n))
	o = lin(o, "o")
	if b.gather && l == hp.nLayer-1 {
		// Only the scored positions are needed past attention.
		o = C.ggml_get_rows(c, o, in.out)
		x = C.ggml_get_rows(c, x, in.out)
	}
	if hp.gemma {
		o = b.norm(o, w[p+"post_attention_norm.weight"])
	}
	x = C.ggml_add(c, o, x)

	cur = b.norm(x, w[p+"ffn_norm.weight"])
	gate := lin(cur, "gate")
	up := lin(cur, "up")
	if hp.gemma {
		cur = C.ggml_mul(c, geluTanh(c, gate), up)
	} else {
		cur = C.ggml_swiglu_split(c, gate, up)
	}
	cur = lin(cur, "down")
	if hp.gemma {
		cur = b.norm(cur, w[p+"post_ffw_norm.weight"])
	}
	return C.ggml_add(c, cur, x)
}

// head is the final norm and the output matrix: logits [n_vocab, rows of x].
func (b *builder) head(x tensor) tensor {
	c, hp, w := b.c, b.t.hp, b.t.w.t
	x = b.norm(x, w["output_norm.weight"])
	out := w["output.weight"]
	if out == nil {
		out = w["token_embd.weight"]
	}
	logits := b.matmul(out, x) // [n_vocab, nOut]
	if b.t.rows != nil {
		logits = C.ggml_add(c, logits, b.logitsDelta(x))
	}
	if hp.softcap > 0 {
		// cap·tanh(z/cap) with tanh(u) = 2σ(2u) − 1
		sc := C.float(hp.softcap)
		logits = C.ggml_scale_bias(c, sigmoid(c, C.ggml_scale(c, logits, 2/sc)), 2*sc, -sc)
	}
	setName(logits, "logits")
	return logits
}

// Constants of the tanh approximation of GELU (ggml's GELU_COEF_A and
// SQRT_2_OVER_PI).
const (
	geluCoefA   = 0.044715
	sqrt2OverPi = 0.79788456080286535587989211986876
)

// geluTanh is GELU with the tanh approximation, 0.5·x·(1+tanh(√(2/π)(x+a·x³))),
// composed from ops that have a backward pass in ggml (GELU and tanh do
// not): 0.5·(1+tanh(u)) = σ(2u) and σ(z) = silu(z)/z, so with
// k = 2√(2/π)(1+a·x²) > 0 and z = x·k, GELU(x) = x·σ(z) = silu(z)/k.
func geluTanh(c *C.struct_ggml_context, x tensor) tensor {
	k := C.ggml_scale_bias(c, C.ggml_sqr(c, x), C.float(2*sqrt2OverPi*geluCoefA), C.float(2*sqrt2OverPi))
	return C.ggml_div(c, C.ggml_silu(c, C.ggml_mul(c, x, k)), k)
}

// sigmoid is σ(z) = exp(−softplus(−z)), from ops with a backward pass.
func sigmoid(c *C.struct_ggml_context, z tensor) tensor {
	return C.ggml_exp(c, C.ggml_scale(c, C.ggml_softplus(c, C.ggml_scale(c, z, -1)), -1))
}

// fillInputs sets the token, position and mask inputs of a batch.
func fillInputs(in inputs, mb *batch) {
	n := mb.n()
	setI32(in.ids, mb.ids)
	setI32(in.pos, mb.pos)
	mask := make([]float32, n*n)
	negInf := float32(math.Inf(-1))
	for q := 0; q < n; q++ {
		row := mask[q*n : (q+1)*n]
		for k := range row {
			if k > q || mb.rowOf[k] != mb.rowOf[q] {
				row[k] = negInf
			}
		}
	}
	setF32(in.mask, mask)
	if in.maskSWA != nil {
		// llama.cpp's LLAMA_SWA_TYPE_STANDARD: key p0 is hidden from query
		// p1 when p1 − p0 ≥ n_swa.
		for q := 0; q < n; q++ {
			row := mask[q*n : (q+1)*n]
			for k := range row {
				if mb.pos[q]-mb.pos[k] >= int32(in.nSWA) {
					row[k] = negInf
				}
			}
		}
		setF32(in.maskSWA, mask)
	}
	if in.out != nil {
		setI32(in.out, mb.outIdx)
	}
}

// runBatch builds and computes one graph for a micro-batch. For modeTrain
// and modeEval it returns the batch's summed token loss divided by denom;
// for modeTrain the gradients of that value are added to the accumulators.
// For modeLogits it returns the logits at outIdx.
func (t *Trainer) runBatch(mb *batch, mode graphMode, denom int) (float64, []float32, error) {
	if mode == modeTrain && t.layered() {
		l, err := t.trainLayered(mb, denom)
		return l, nil, err
	}
	size := t.graphSize()
	g, err := newCtx(2*size, size)
	if err != nil {
		return 0, nil, err
	}
	defer g.free()

	n, nOut := mb.n(), len(mb.outIdx)
	in, logits := t.forward(g, n, nOut, mode == modeTrain && t.cfg.DequantBackward)
	var out tensor
	if mode == modeLogits {
		out = logits
		C.ggml_set_output(out)
	} else {
		out = t.lossOf(g, &in, logits, nOut, denom)
	}
	gf, err := t.buildGraph(g, out, mode == modeTrain, nil)
	if err != nil {
		return 0, nil, err
	}
	if err := t.be.run(gf, func() { t.fillAll(in, mb) }); err != nil {
		return 0, nil, err
	}
	res := getF32(out)
	if mode == modeLogits {
		return 0, res, nil
	}
	return float64(res[0]), nil, nil
}

// lossOf adds the labels input and the batch's summed token loss divided
// by denom.
func (t *Trainer) lossOf(g *gctx, in *inputs, logits tensor, nOut, denom int) tensor {
	in.labels = g.new2(C.GGML_TYPE_F32, t.hp.nVocab, nOut)
	setName(in.labels, "labels")
	C.ggml_set_input(in.labels)
	ce := C.ggml_cross_entropy_loss(g.c, logits, in.labels) // mean over nOut rows
	out := C.ggml_scale(g.c, ce, C.float(float64(nOut)/float64(denom)))
	setName(out, "loss")
	C.ggml_set_output(out)
	return out
}

// fillAll sets a graph's inputs, including the one-hot labels if present.
func (t *Trainer) fillAll(in inputs, mb *batch) {
	fillInputs(in, mb)
	if in.slots != nil {
		slot, mask := t.rows.slots(mb.ids)
		setI32(in.slots, slot)
		setF32(in.slotMask, mask)
	}
	if in.labels != nil {
		// The one-hot rows are n_vocab wide (1 GiB for 1024 labelled
		// tokens of a 262k vocabulary): zero the backend tensor and set
		// the ones in place rather than building it in Go.
		nv := t.hp.nVocab
		clearTensor(in.labels)
		one := float32(1)
		for i, lab := range mb.labels {
			C.ggml_backend_tensor_set(in.labels, unsafe.Pointer(&one), C.size_t((i*nv+int(lab))*4), 4)
		}
	}
}

// buildGraph makes the graph computing out and, if backward, the gradients
// of out (a scalar loss) added to the LoRA accumulators and to the
// accumulators in extra (keyed by leaf tensors flagged as parameters).
func (t *Trainer) buildGraph(g *gctx, out tensor, backward bool, extra map[tensor]tensor) (*C.struct_ggml_cgraph, error) {
	size := t.graphSize()
	gf := C.ggml_new_graph_custom(g.c, C.size_t(size), C.bool(backward))
	C.ggml_build_forward_expand(gf, out)
	if backward {
		C.ggml_set_loss(out)
		nf := int(C.ggml_graph_n_nodes(gf))
		accs := make([]tensor, nf)
		for i := 0; i < nf; i++ {
			node := C.ggml_graph_node(gf, C.int(i))
			if node == out {
				accs[i] = t.lossGrad
			} else if acc, ok := t.gradOf[node]; ok {
				accs[i] = acc
			} else if acc, ok := extra[node]; ok {
				accs[i] = acc
			}
		}
		C.ggml_build_backward_expand(g.c, gf, &accs[0])
		protectBackwardInputs(gf)
	}
	if n := int(C.ggml_graph_n_nodes(gf)); 2*n > size {
		return nil, fmt.Errorf("lora: graph of %d nodes exceeds the budget %d", n, size)
	}
	return gf, nil
}

// layered reports whether training steps run layer by layer (activation
// checkpointing).
func (t *Trainer) layered() bool { return t.cfg.Checkpointing }

// trainLayered is modeTrain with per-layer recomputation. A forward pass,
// one graph per layer, keeps only the hidden state entering each layer
// (x_0 … x_L, F32). The head graph (final norm, output matrix, loss) then
// gives the loss and dL/dx_L; for l = L−1 … 0 a graph recomputes layer l
// from x_l and back-propagates the surrogate loss Σ(layer_l(x_l) ⊙ dL/dx_{l+1}),
// whose gradients are exactly layer l's share of dL/dθ and dL/dx_l. Only one
// layer's activations (and, with DequantBackward, its F32 weight copies) are
// alive at a time.
func (t *Trainer) trainLayered(mb *batch, denom int) (float64, error) {
	hp := t.hp
	n, nOut := mb.n(), len(mb.outIdx)
	L := hp.nLayer
	// Persistent per-batch tensors: boundaries and two gradient buffers
	// (n rows) plus the gradient at x_L (nOut rows).
	st, err := newCtx(L+4, 0)
	if err != nil {
		return 0, err
	}
	defer st.free()
	xs := make([]tensor, L+1)
	for l := range xs {
		rows := n
		if l == L {
			rows = nOut
		}
		xs[l] = st.new2(C.GGML_TYPE_F32, hp.nEmbd, rows)
		setName(xs[l], fmt.Sprintf("x_%d", l))
	}
	dxL := st.new2(C.GGML_TYPE_F32, hp.nEmbd, nOut)
	dx := [2]tensor{st.new2(C.GGML_TYPE_F32, hp.nEmbd, n), st.new2(C.GGML_TYPE_F32, hp.nEmbd, n)}
	buf, err := t.be.alloc(st)
	if err != nil {
		return 0, err
	}
	defer freeBuffer(buf)

	size := t.graphSize()
	// run builds one graph (build returns its output), computes it, and
	// returns the output's first value.
	run := func(dequant, backward bool, extra map[tensor]tensor, mb *batch, build func(b *builder) tensor) (float32, error) {
		g, err := newCtx(2*size, size)
		if err != nil {
			return 0, err
		}
		defer g.free()
		b := t.newBuilder(g, n, nOut, dequant)
		out := build(b)
		gf, err := t.buildGraph(g, out, backward, extra)
		if err != nil {
			return 0, err
		}
		if err := t.be.run(gf, func() { t.fillAll(b.in, mb) }); err != nil {
			return 0, err
		}
		var v float32
		C.ggml_backend_tensor_get(out, unsafe.Pointer(&v), 0, 4)
		return v, nil
	}

	// Forward: x_0 = embed, x_{l+1} = layer_l(x_l), with the stored weights.
	for l := -1; l < L; l++ {
		_, err := run(false, false, nil, mb, func(b *builder) tensor {
			if l < 0 {
				return C.ggml_cpy(b.c, b.embed(), xs[0])
			}
			return C.ggml_cpy(b.c, b.layer(xs[l], l), xs[l+1])
		})
		if err != nil {
			return 0, err
		}
	}

	// Head: the loss and dL/dx_L, over chunks of at most headRows rows so
	// that the n_vocab-wide tensors (logits, one-hot labels, their
	// gradient) stay bounded. With DequantBackward the reported loss comes
	// from a forward-only head with the stored output matrix (as the
	// default path and inference compute it: the CPU's quantized matmuls
	// also quantize their activations, which shifts the loss by ~3e-4
	// relative on Q8_0) and the gradient from a head with its F32 copy.
	clearTensor(dxL)
	C.ggml_set_param(xs[L])
	var loss float64
	rows := t.headRows()
	for r0 := 0; r0 < nOut; r0 += rows {
		r1 := min(r0+rows, nOut)
		sub := &batch{labels: mb.labels[r0:r1]}
		head := func(b *builder) tensor {
			x := xs[L]
			if r0 > 0 || r1 < nOut {
				nb1 := x.nb[1]
				x = C.ggml_view_2d(b.c, x, C.int64_t(hp.nEmbd), C.int64_t(r1-r0), nb1, C.size_t(r0)*nb1)
			}
			return t.lossOf(b.g, &b.in, b.head(x), r1-r0, denom)
		}
		l, err := run(t.cfg.DequantBackward, true, map[tensor]tensor{xs[L]: dxL}, sub, head)
		if err == nil && t.cfg.DequantBackward {
			l, err = run(false, false, nil, sub, head)
		}
		if err != nil {
			return 0, err
		}
		loss += float64(l)
	}

	// Layers, last to first.
	gin := dxL
	for l := L - 1; l >= 0; l-- {
		var extra map[tensor]tensor
		gout := dx[l%2]
		if l > 0 || t.rows != nil {
			// x_0 depends on no parameter, unless token rows train.
			clearTensor(gout)
			C.ggml_set_param(xs[l])
			extra = map[tensor]tensor{xs[l]: gout}
		}
		_, err := run(t.cfg.DequantBackward, true, extra, mb, func(b *builder) tensor {
			y := b.layer(xs[l], l)
			s := C.ggml_sum(b.c, C.ggml_mul(b.c, y, gin))
			setName(s, "surrogate")
			return s
		})
		if err != nil {
			return 0, err
		}
		gin = gout
	}
	if t.rows != nil {
		// The embedding's token rows: dL/dΔ from dL/dx_0.
		_, err := run(false, true, nil, mb, func(b *builder) tensor {
			s := C.ggml_sum(b.c, C.ggml_mul(b.c, b.embed(), gin))
			setName(s, "surrogate_embed")
			return s
		})
		if err != nil {
			return 0, err
		}
	}
	return loss, nil
}

// headBytes bounds one n_vocab-wide F32 tensor of a checkpointed head graph.
const headBytes = 256 << 20

// headRows is how many output rows one head graph of trainLayered takes.
func (t *Trainer) headRows() int {
	if t.headRowsOverride > 0 {
		return t.headRowsOverride
	}
	return max(1, headBytes/(4*t.hp.nVocab))
}

// clearTensor zeroes a backend tensor.
func clearTensor(x tensor) {
	C.ggml_backend_tensor_memset(x, 0, 0, C.ggml_nbytes(x))
}

// protectBackwardInputs works around kernels that are not safe in place:
// ggml-alloc may compute RMS_NORM_BACK into the memory of its src[0] (the
// incoming gradient) and SOFT_MAX_BACK into that of its src[1] (the softmax
// output), but the CPU kernels overwrite those before they finish reading
// them (dx := x; dx += dz reads dz after it was overwritten), which silently
// corrupts gradients. Flagging those sources as outputs stops the allocator
// from reusing them.
func protectBackwardInputs(gf *C.struct_ggml_cgraph) {
	n := int(C.ggml_graph_n_nodes(gf))
	for i := 0; i < n; i++ {
		node := C.ggml_graph_node(gf, C.int(i))
		switch node.op {
		case C.GGML_OP_RMS_NORM_BACK:
			C.ggml_set_output(node.src[0])
		case C.GGML_OP_SOFT_MAX_BACK:
			C.ggml_set_output(node.src[1])
		}
	}
}

// reserve sizes the scheduler's compute buffers once for the largest
// training micro-batch (BatchTokens tokens, every position labelled), so
// that every later graph fits in them. Otherwise ggml-alloc reallocates a
// buffer whenever a graph needs a little more of it than any before, and
// each reallocation is gigabytes of fresh pages the kernel must zero
// (measured on Gemma 3 270M, 256-token rows, 1 thread: 29% of a step in
// clear_page, a new 1.7–1.8 GiB buffer on most steps). It also makes a
// configuration that cannot fit fail here, before training starts.
func (t *Trainer) reserve() error {
	if t.layered() {
		return nil
	}
	size := t.graphSize()
	g, err := newCtx(2*size, size)
	if err != nil {
		return err
	}
	defer g.free()
	n := t.cfg.BatchTokens
	in, logits := t.forward(g, n, n, t.cfg.DequantBackward)
	out := t.lossOf(g, &in, logits, n, 1)
	gf, err := t.buildGraph(g, out, true, nil)
	if err != nil {
		return err
	}
	if !C.ggml_backend_sched_reserve(t.be.sched, gf) {
		return fmt.Errorf("lora: could not allocate the compute buffers for %d-token micro-batches (out of memory? lower BatchTokens/MaxSeqLen or use Checkpointing)", n)
	}
	t.be.notePeak()
	return nil
}
