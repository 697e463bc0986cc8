package llama

/*
#include <stdlib.h>
#include <llama.h>
*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"unsafe"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/models"
)

// quantTypes maps the names users type to llama.cpp file types.
var quantTypes = map[string]C.enum_llama_ftype{
	"f32": C.LLAMA_FTYPE_ALL_F32, "f16": C.LLAMA_FTYPE_MOSTLY_F16, "bf16": C.LLAMA_FTYPE_MOSTLY_BF16,
	"q8_0": C.LLAMA_FTYPE_MOSTLY_Q8_0, "q4_0": C.LLAMA_FTYPE_MOSTLY_Q4_0, "q4_1": C.LLAMA_FTYPE_MOSTLY_Q4_1,
	"q5_0": C.LLAMA_FTYPE_MOSTLY_Q5_0, "q5_1": C.LLAMA_FTYPE_MOSTLY_Q5_1,
	"q2_k": C.LLAMA_FTYPE_MOSTLY_Q2_K, "q2_k_s": C.LLAMA_FTYPE_MOSTLY_Q2_K_S,
	"q3_k_s": C.LLAMA_FTYPE_MOSTLY_Q3_K_S, "q3_k_m": C.LLAMA_FTYPE_MOSTLY_Q3_K_M, "q3_k_l": C.LLAMA_FTYPE_MOSTLY_Q3_K_L,
	"q4_k_s": C.LLAMA_FTYPE_MOSTLY_Q4_K_S, "q4_k_m": C.LLAMA_FTYPE_MOSTLY_Q4_K_M, "q4_k": C.LLAMA_FTYPE_MOSTLY_Q4_K_M,
	"q5_k_s": C.LLAMA_FTYPE_MOSTLY_Q5_K_S, "q5_k_m": C.LLAMA_FTYPE_MOSTLY_Q5_K_M, "q5_k": C.LLAMA_FTYPE_MOSTLY_Q5_K_M,
	"q6_k": C.LLAMA_FTYPE_MOSTLY_Q6_K, "iq4_nl": C.LLAMA_FTYPE_MOSTLY_IQ4_NL, "iq4_xs": C.LLAMA_FTYPE_MOSTLY_IQ4_XS,
	"tq1_0": C.LLAMA_FTYPE_MOSTLY_TQ1_0, "tq2_0": C.LLAMA_FTYPE_MOSTLY_TQ2_0,
}

// QuantTypes lists the accepted Quantize type names.
func QuantTypes() []string {
	out := make([]string, 0, len(quantTypes))
	for k := range quantTypes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// QuantizeParams tune Quantize.
type QuantizeParams struct {
	Threads int // 0: DefaultThreads
	// Pure quantizes every matrix to the requested type (llama.cpp otherwise
	// keeps some tensors, e.g. the output, at higher precision in k-quant mixes).
	Pure bool
	// AllowRequantize lets an already quantized input be quantized again
	// (llama.cpp's --allow-requantize): the errors of both roundings add up.
	AllowRequantize bool
}

// Quantize is QuantizeContext without cancellation.
func Quantize(in, out, typ string, p QuantizeParams) error {
	return QuantizeContext(context.Background(), in, out, typ, p)
}

// QuantizeContext writes a quantized copy of the GGUF model in to out with
// llama.cpp's own quantizer. typ is a name from QuantTypes (e.g. "q8_0",
// "q4_k_m"). The output follows internal/outfile: written to a temporary
// file beside out and renamed, so a failed or cancelled run leaves nothing
// half-written; in is never touched. llama.cpp's quantizer cannot be
// stopped midway, so when ctx ends the call returns at once with ctx's
// error and the temporary file removed; the abandoned C call runs on until
// the process exits (the CLI exits right after).
func QuantizeContext(ctx context.Context, in, out, typ string, p QuantizeParams) error {
	ft, ok := quantTypes[strings.ToLower(typ)]
	if !ok {
		return fmt.Errorf("llama: unknown quantization type %q (one of: %s)", typ, strings.Join(QuantTypes(), ", "))
	}
	if err := checkModelFile(in, true); err != nil {
		return err
	}
	info, err := models.ReadInfo(in)
	if err != nil {
		return err
	}
	requant := info.FileType >= 0 && info.FileType != 0 && info.FileType != 1 && info.FileType != 32
	if requant && !p.AllowRequantize {
		name := info.FileTypeName
		if name == "" {
			name = fmt.Sprint("file type ", info.FileType)
		}
		return fmt.Errorf("llama: %s is already quantized (%s); quantizing it again adds a second rounding error: start from an F32/F16/BF16 file, or allow it with --allow-requantize", in, name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := outfile.Create(out, in)
	if err != nil {
		return fmt.Errorf("llama: %w", err)
	}
	defer f.Abort()
	Init()
	qp := C.llama_model_quantize_default_params()
	qp.ftype = ft
	qp.nthread = C.int32_t(p.Threads)
	if p.Threads == 0 {
		qp.nthread = C.int32_t(DefaultThreads())
	}
	qp.pure = C._Bool(p.Pure)
	qp.allow_requantize = C._Bool(p.AllowRequantize)
	cin, cout := C.CString(in), C.CString(f.Name())
	done := make(chan C.uint32_t, 1)
	go func() {
		defer C.free(unsafe.Pointer(cin))
		defer C.free(unsafe.Pointer(cout))
		done <- C.llama_model_quantize(cin, cout, &qp)
	}()
	select {
	case <-ctx.Done():
		// The abandoned call may still (re)create the temporary file: it is
		// removed again when the call ends.
		name := f.Name()
		go func() {
			<-done
			os.Remove(name)
		}()
		return ctx.Err()
	case rc := <-done:
		if rc != 0 {
			return fmt.Errorf("llama: quantizing %s to %s failed (tensor rows must be multiples of the block size: 32 for q4_0/q8_0, 256 for k-quants; --log-level info shows llama.cpp's reason)", in, typ)
		}
	}
	return f.Commit()
}
