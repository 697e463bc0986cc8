package lora

/*
#include <ggml.h>
*/
import "C"

import (
	"fmt"
	"math"
	"slices"
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
	nSWA                                 int // sliding window of maskSWA
}

// graphSize is the node budget of one training graph.
func (t *Trainer) graphSize() int { return 1024*t.hp.nLayer + 2048 }

// forward builds the model's forward graph for a batch of n tokens, with
// logits at nOut gathered positions.
func (t *Trainer) forward(g *gctx, n, nOut int) (inputs, tensor) {
	hp := t.hp
	c := g.c
	var in inputs
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
	gather := nOut != n
	if gather {
		in.out = g.new1(C.GGML_TYPE_I32, nOut)
		setName(in.out, "out_ids")
		C.ggml_set_input(in.out)
	}

	w := t.w.t
	lin := func(x tensor, l int, target string) tensor {
		name := fmt.Sprintf("blk.%d.%s.weight", l, targetTensor[target])
		y := C.ggml_mul_mat(c, w[name], x)
		if p := t.pairAt[pairKey{l, target}]; p != nil {
			ab := C.ggml_mul_mat(c, p.b, C.ggml_mul_mat(c, p.a, x))
			y = C.ggml_add(c, y, C.ggml_scale(c, ab, C.float(p.scale)))
		}
		return y
	}
	norm := func(x, weight tensor) tensor {
		return C.ggml_mul(c, C.ggml_rms_norm(c, x, C.float(hp.rmsEps)), weight)
	}
	ropeFreqs := w["rope_freqs.weight"] // nil when absent
	rope := func(x tensor, l int) tensor {
		return C.ggml_rope_ext(c, x, in.pos, ropeFreqs, C.int(hp.nRot), C.int(hp.ropeMode), C.int(hp.nCtxOrig),
			C.float(hp.ropeBaseL[l]), C.float(hp.ropeScaleL[l]), 0, 1, 32, 1)
	}
	kqScale := C.float(hp.kqScale)
	hd := C.int64_t(hp.headDim)

	x := C.ggml_get_rows(c, w["token_embd.weight"], in.ids)
	if hp.gemma {
		x = C.ggml_scale(c, x, C.float(math.Sqrt(float64(hp.nEmbd))))
	}
	for l := 0; l < hp.nLayer; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		cur := norm(x, w[p+"attn_norm.weight"])
		q := lin(cur, l, "q")
		k := lin(cur, l, "k")
		v := lin(cur, l, "v")
		if hp.biasQKV {
			q = C.ggml_add(c, q, w[p+"attn_q.bias"])
			k = C.ggml_add(c, k, w[p+"attn_k.bias"])
			v = C.ggml_add(c, v, w[p+"attn_v.bias"])
		}
		q = C.ggml_reshape_3d(c, q, hd, C.int64_t(hp.nHead), C.int64_t(n))
		k = C.ggml_reshape_3d(c, k, hd, C.int64_t(hp.nHeadKV), C.int64_t(n))
		v = C.ggml_reshape_3d(c, v, hd, C.int64_t(hp.nHeadKV), C.int64_t(n))
		if hp.qkNorm {
			q = norm(q, w[p+"attn_q_norm.weight"])
			k = norm(k, w[p+"attn_k_norm.weight"])
		}
		q = rope(q, l)
		k = rope(k, l)
		mask := in.mask
		if hp.swa[l] && in.maskSWA != nil {
			mask = in.maskSWA
		}

		qp := C.ggml_permute(c, q, 0, 2, 1, 3)                 // [hd, n, nHead]
		kp := C.ggml_permute(c, k, 0, 2, 1, 3)                 // [hd, n, nHeadKV]
		kq := C.ggml_mul_mat(c, kp, qp)                        // [n_k, n_q, nHead]
		kq = C.ggml_soft_max_ext(c, kq, mask, kqScale, 0)      // causal, per row
		vt := C.ggml_cont(c, C.ggml_permute(c, v, 1, 2, 0, 3)) // [n, hd, nHeadKV]
		kqv := C.ggml_mul_mat(c, vt, kq)                       // [hd, n_q, nHead]
		o := C.ggml_permute(c, kqv, 0, 2, 1, 3)                // [hd, nHead, n_q]
		o = C.ggml_cont_2d(c, o, hd*C.int64_t(hp.nHead), C.int64_t(n))
		o = lin(o, l, "o")
		if gather && l == hp.nLayer-1 {
			// Only the scored positions are needed past attention.
			o = C.ggml_get_rows(c, o, in.out)
			x = C.ggml_get_rows(c, x, in.out)
		}
		if hp.gemma {
			o = norm(o, w[p+"post_attention_norm.weight"])
		}
		x = C.ggml_add(c, o, x)

		cur = norm(x, w[p+"ffn_norm.weight"])
		gate := lin(cur, l, "gate")
		up := lin(cur, l, "up")
		if hp.gemma {
			cur = C.ggml_mul(c, geluTanh(c, gate), up)
		} else {
			cur = C.ggml_swiglu_split(c, gate, up)
		}
		cur = lin(cur, l, "down")
		if hp.gemma {
			cur = norm(cur, w[p+"post_ffw_norm.weight"])
		}
		x = C.ggml_add(c, cur, x)
	}
	x = norm(x, w["output_norm.weight"])
	out := w["output.weight"]
	if out == nil {
		out = w["token_embd.weight"]
	}
	logits := C.ggml_mul_mat(c, out, x) // [n_vocab, nOut]
	if hp.softcap > 0 {
		// cap·tanh(z/cap) with tanh(u) = 2σ(2u) − 1
		sc := C.float(hp.softcap)
		logits = C.ggml_scale_bias(c, sigmoid(c, C.ggml_scale(c, logits, 2/sc)), 2*sc, -sc)
	}
	setName(logits, "logits")
	return in, logits
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
	size := t.graphSize()
	g, err := newCtx(2*size, size)
	if err != nil {
		return 0, nil, err
	}
	defer g.free()
	c := g.c

	n, nOut := mb.n(), len(mb.outIdx)
	in, logits := t.forward(g, n, nOut)
	var out tensor
	if mode == modeLogits {
		out = logits
	} else {
		in.labels = g.new2(C.GGML_TYPE_F32, t.hp.nVocab, nOut)
		setName(in.labels, "labels")
		C.ggml_set_input(in.labels)
		ce := C.ggml_cross_entropy_loss(c, logits, in.labels) // mean over nOut rows
		out = C.ggml_scale(c, ce, C.float(float64(nOut)/float64(denom)))
		setName(out, "loss")
	}
	C.ggml_set_output(out)
	gf := C.ggml_new_graph_custom(c, C.size_t(size), mode == modeTrain)
	C.ggml_build_forward_expand(gf, out)
	if mode == modeTrain {
		C.ggml_set_loss(out)
		nf := int(C.ggml_graph_n_nodes(gf))
		accs := make([]tensor, nf)
		for i := 0; i < nf; i++ {
			node := C.ggml_graph_node(gf, C.int(i))
			if node == out {
				accs[i] = t.lossGrad
			} else if acc, ok := t.gradOf[node]; ok {
				accs[i] = acc
			}
		}
		C.ggml_build_backward_expand(c, gf, &accs[0])
		protectBackwardInputs(gf)
	}
	if n := int(C.ggml_graph_n_nodes(gf)); 2*n > size {
		return 0, nil, fmt.Errorf("lora: graph of %d nodes exceeds the budget %d", n, size)
	}
	err = t.be.run(gf, func() {
		fillInputs(in, mb)
		if in.labels != nil {
			oh := make([]float32, t.hp.nVocab*nOut)
			for i, lab := range mb.labels {
				oh[i*t.hp.nVocab+int(lab)] = 1
			}
			setF32(in.labels, oh)
		}
	})
	if err != nil {
		return 0, nil, err
	}
	res := getF32(out)
	if mode == modeLogits {
		return 0, res, nil
	}
	return float64(res[0]), nil, nil
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
