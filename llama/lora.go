package llama

/*
#include <stdlib.h>
#include <llama.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"path/filepath"
	"unsafe"

	"github.com/spectrumkit/spectrum/models"
)

// Adapter is a LoRA adapter loaded for a Model. It is freed by Close or,
// failing that, together with its model.
type Adapter struct {
	c     *C.struct_llama_adapter_lora
	model *Model
	path  string
}

// LoadAdapter loads a GGUF LoRA adapter (general.type = adapter) for m.
// The adapter's architecture and tensor shapes must match the model.
func LoadAdapter(m *Model, path string) (*Adapter, error) {
	if m == nil || m.c == nil {
		return nil, errors.New("llama: LoadAdapter on a closed model")
	}
	if err := checkModelFile(path, true); err != nil {
		return nil, err
	}
	if err := checkEmbeddingAdapter(m, path); err != nil {
		return nil, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	ca := C.llama_adapter_lora_init(m.c, cpath)
	if ca == nil {
		return nil, fmt.Errorf("llama: %s is not a LoRA adapter for this %s model (wrong architecture, tensor names or shapes; --log-level info shows llama.cpp's reason)", path, m.Architecture())
	}
	a := &Adapter{c: ca, model: m, path: path}
	m.mu.Lock()
	if m.adapters == nil {
		m.adapters = map[*Adapter]struct{}{}
	}
	m.adapters[a] = struct{}{}
	m.mu.Unlock()
	return a, nil
}

// Path is the file the adapter was loaded from.
func (a *Adapter) Path() string { return a.path }

// Meta returns the adapter's metadata as text (e.g. "adapter.lora.alpha").
func (a *Adapter) Meta() map[string]string {
	if a.c == nil {
		return map[string]string{}
	}
	return metaMap(int(C.llama_adapter_meta_count(a.c)),
		func(i C.int32_t, buf *C.char, n C.size_t) C.int32_t {
			return C.llama_adapter_meta_key_by_index(a.c, i, buf, n)
		},
		func(i C.int32_t, buf *C.char, n C.size_t) C.int32_t {
			return C.llama_adapter_meta_val_str_by_index(a.c, i, buf, n)
		})
}

// Close frees the adapter. Detach it from every context first.
func (a *Adapter) Close() error {
	if a == nil {
		return nil
	}
	a.model.mu.Lock()
	defer a.model.mu.Unlock()
	if a.c != nil {
		C.llama_adapter_lora_free(a.c)
		a.c = nil
		delete(a.model.adapters, a)
	}
	return nil
}

// SetAdapter attaches a to the context with the given scale (the effective
// scale is scale·alpha/rank, as in PEFT), or changes its scale.
func (c *Context) SetAdapter(a *Adapter, scale float32) error {
	if a == nil || a.c == nil {
		return errors.New("llama: SetAdapter with a closed adapter")
	}
	if a.model != c.model {
		return errors.New("llama: adapter was loaded for another model")
	}
	if !c.lora {
		return errors.New("llama: this context was created without ContextParams.LoRA, so it cannot attach adapters")
	}
	if C.llama_set_adapter_lora(c.c, a.c, C.float(scale)) != 0 {
		return fmt.Errorf("llama: could not attach adapter %s", a.path)
	}
	return nil
}

// RemoveAdapter detaches a from the context.
func (c *Context) RemoveAdapter(a *Adapter) error {
	if a == nil || a.c == nil {
		return errors.New("llama: RemoveAdapter with a closed adapter")
	}
	if C.llama_rm_adapter_lora(c.c, a.c) != 0 {
		return fmt.Errorf("llama: adapter %s is not attached", a.path)
	}
	return nil
}

// ClearAdapters detaches every adapter.
func (c *Context) ClearAdapters() { C.llama_clear_adapter_lora(c.c) }

// checkEmbeddingAdapter refuses, with the way out, what llama.cpp cannot
// run on a model whose output matrix is its token embedding (tied): trained
// token rows (models.TensorTokenRows, which it would refuse with a terse
// message) and a LoRA on token_embd, which its output head would apply as a
// projection LoRA of the wrong shape (a GGML_ASSERT that aborts the process).
func checkEmbeddingAdapter(m *Model, path string) error {
	af, err := models.Open(path)
	if err != nil {
		return fmt.Errorf("llama: %w", err)
	}
	defer af.Close()
	_, lora := af.Tensor(models.TensorTokenEmbd + ".lora_a")
	if !lora && !models.HasTokenRows(af) {
		return nil
	}
	mf, err := models.Open(m.path)
	if err != nil {
		return fmt.Errorf("llama: %w", err)
	}
	defer mf.Close()
	if _, untied := mf.Tensor(models.TensorOutput); untied {
		if models.HasTokenRows(af) {
			return fmt.Errorf("llama: %s holds token rows trained for a model with tied output; %s has its own output matrix (wrong base model?)", path, m.path)
		}
		return nil
	}
	what := "a LoRA on the token embedding, which llama.cpp cannot apply"
	if models.HasTokenRows(af) {
		what = "trained token rows (tune --train-tokens), which a llama.cpp adapter cannot express"
	}
	return fmt.Errorf("llama: %s holds %s when the model's output matrix is its token embedding (%s): fold it in with `spectrum merge %s --lora %s -o MERGED.gguf` and use the merged model", path, what, filepath.Base(m.path), m.path, path)
}
