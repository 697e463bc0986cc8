package llama

/*
#include <stdlib.h>
#include <llama.h>
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"
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
}

// Quantize writes a quantized copy of the GGUF model in to out with
// llama.cpp's own quantizer. typ is a name from QuantTypes (e.g. "q8_0",
// "q4_k_m"). The output is written to a temporary file beside out and
// renamed, so a failed run leaves nothing half-written; in is never touched.
func Quantize(in, out, typ string, p QuantizeParams) error {
	ft, ok := quantTypes[strings.ToLower(typ)]
	if !ok {
		return fmt.Errorf("llama: unknown quantization type %q (one of: %s)", typ, strings.Join(QuantTypes(), ", "))
	}
	if err := checkModelFile(in, true); err != nil {
		return err
	}
	if same, err := samePath(in, out); err != nil {
		return err
	} else if same {
		return fmt.Errorf("llama: output %s is the input file; choose another path", out)
	}
	Init()
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return fmt.Errorf("llama: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName)

	qp := C.llama_model_quantize_default_params()
	qp.ftype = ft
	qp.nthread = C.int32_t(p.Threads)
	if p.Threads == 0 {
		qp.nthread = C.int32_t(DefaultThreads())
	}
	qp.pure = C._Bool(p.Pure)
	cin, cout := C.CString(in), C.CString(tmpName)
	defer C.free(unsafe.Pointer(cin))
	defer C.free(unsafe.Pointer(cout))
	if C.llama_model_quantize(cin, cout, &qp) != 0 {
		return fmt.Errorf("llama: quantizing %s to %s failed (tensor rows must be multiples of the block size: 32 for q4_0/q8_0, 256 for k-quants; --log-level info shows llama.cpp's reason)", in, typ)
	}
	if err := os.Rename(tmpName, out); err != nil {
		return fmt.Errorf("llama: %w", err)
	}
	return nil
}

// samePath reports whether a and b name the same existing file.
func samePath(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, fmt.Errorf("llama: %w", err)
	}
	sb, err := os.Stat(b)
	if os.IsNotExist(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("llama: %w", err)
	}
	return os.SameFile(sa, sb), nil
}
