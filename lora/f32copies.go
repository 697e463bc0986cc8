package lora

/*
#include <ggml.h>
#include <ggml-backend.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"sort"
)

// f32Copies are persistent F32 copies of the frozen matrices that the
// training graph multiplies by, made once when the trainer starts. They
// serve DequantBackward in the single graph on the CPU: without them every
// training graph dequantizes each matrix again (ggml_cast), which cost ~7%
// of a Gemma 3 270M step; the copies lived in the compute buffer from a
// layer's forward to its backward anyway, so peak memory stays about the
// same (4 bytes per weight). With Checkpointing only one layer's copies
// may be alive at a time, so they stay in-graph there.
type f32Copies struct {
	ctx *gctx
	buf C.ggml_backend_buffer_t
	of  map[tensor]tensor // stored (quantized) matrix → its F32 copy
}

func (c *f32Copies) free() {
	if c == nil {
		return
	}
	freeBuffer(c.buf)
	c.buf = nil
	c.ctx.free()
}

// copyOf returns w's F32 copy, or nil.
func (c *f32Copies) copyOf(w tensor) tensor {
	if c == nil {
		return nil
	}
	return c.of[w]
}

// f32Matrices lists the frozen matrices the graph's matmuls read: every
// layer's seven projections and the output matrix (the token embedding
// when tied), in a fixed order.
func (t *Trainer) f32Matrices() []tensor {
	var names []string
	for l := 0; l < t.hp.nLayer; l++ {
		for _, tt := range targetTensor {
			names = append(names, fmt.Sprintf("blk.%d.%s.weight", l, tt))
		}
	}
	if t.w.t["output.weight"] != nil {
		names = append(names, "output.weight")
	} else {
		names = append(names, "token_embd.weight")
	}
	sort.Strings(names)
	var out []tensor
	for _, n := range names {
		if w := t.w.t[n]; w != nil && w._type != C.GGML_TYPE_F32 {
			out = append(out, w)
		}
	}
	return out
}

// makeF32Copies allocates the copies and fills them with one graph of
// ggml_cpy (the CPU's dequantization, the same as ggml_cast in-graph).
func (t *Trainer) makeF32Copies() error {
	mats := t.f32Matrices()
	if len(mats) == 0 {
		return nil
	}
	ctx, err := newCtx(len(mats), 0)
	if err != nil {
		return err
	}
	c := &f32Copies{ctx: ctx, of: map[tensor]tensor{}}
	for _, w := range mats {
		cp := ctx.newN(C.GGML_TYPE_F32, []uint64{uint64(w.ne[0]), uint64(w.ne[1])})
		c.of[w] = cp
	}
	if c.buf, err = t.be.alloc(ctx); err != nil {
		c.free()
		return errors.New("lora: could not allocate the F32 copies of the frozen matrices (out of memory? turn DequantBackward off)")
	}
	g, err := newCtx(2*len(mats), 2*len(mats)+16)
	if err != nil {
		c.free()
		return err
	}
	defer g.free()
	gf := C.ggml_new_graph_custom(g.c, C.size_t(2*len(mats)+16), false)
	for _, w := range mats {
		C.ggml_build_forward_expand(gf, C.ggml_cpy(g.c, w, c.of[w]))
	}
	if err := t.be.run(gf, nil); err != nil {
		c.free()
		return err
	}
	t.f32 = c
	return nil
}
