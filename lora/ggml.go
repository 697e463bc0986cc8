package lora

/*
#include <stdlib.h>
#include <string.h>
#include <ggml.h>
#include <ggml-alloc.h>
#include <ggml-backend.h>
#include <ggml-cpu.h>

typedef void (*lora_set_threads_fn)(ggml_backend_t, int);

// lora_set_threads sets an accelerator backend's thread count through its
// registry's "ggml_backend_set_n_threads" entry, when it has one.
static void lora_set_threads(ggml_backend_dev_t dev, ggml_backend_t b, int n) {
	ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
	lora_set_threads_fn fn = reg ? (lora_set_threads_fn) ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads") : NULL;
	if (fn) fn(b, n);
}

static struct ggml_context * lora_ctx_init(size_t mem) {
	struct ggml_init_params p = { mem, NULL, true };
	return ggml_init(p);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/spectrumkit/spectrum/llama"

	_ "github.com/ollama/ollama/ml/backend/ggml/ggml/src" // compiles ggml and its CPU backend
)

// tensor is a ggml tensor owned by some ggml context.
type tensor = *C.struct_ggml_tensor

// gctx is a no-alloc ggml context: tensor metadata only, data lives in
// backend buffers.
type gctx struct {
	c *C.struct_ggml_context
}

// newCtx makes a no-alloc context with room for nTensors tensors and, if
// graphSize > 0, one graph of that many nodes with gradients.
func newCtx(nTensors, graphSize int) (*gctx, error) {
	mem := C.size_t(nTensors) * C.ggml_tensor_overhead()
	if graphSize > 0 {
		mem += C.ggml_graph_overhead_custom(C.size_t(graphSize), true)
	}
	c := C.lora_ctx_init(mem)
	if c == nil {
		return nil, errors.New("lora: ggml_init failed")
	}
	return &gctx{c: c}, nil
}

func (g *gctx) free() {
	if g != nil && g.c != nil {
		C.ggml_free(g.c)
		g.c = nil
	}
}

func (g *gctx) new1(typ C.enum_ggml_type, n0 int) tensor {
	return C.ggml_new_tensor_1d(g.c, typ, C.int64_t(n0))
}

func (g *gctx) new2(typ C.enum_ggml_type, n0, n1 int) tensor {
	return C.ggml_new_tensor_2d(g.c, typ, C.int64_t(n0), C.int64_t(n1))
}

func (g *gctx) newN(typ C.enum_ggml_type, shape []uint64) tensor {
	var ne [4]C.int64_t
	for i := range ne {
		ne[i] = 1
	}
	for i, s := range shape {
		ne[i] = C.int64_t(s)
	}
	return C.ggml_new_tensor(g.c, typ, C.int(len(shape)), &ne[0])
}

func setName(t tensor, name string) {
	cs := C.CString(name)
	C.ggml_set_name(t, cs)
	C.free(unsafe.Pointer(cs))
}

func ne(t tensor, i int) int { return int(t.ne[i]) }

func nbytes(t tensor) int { return int(C.ggml_nbytes(t)) }

// setF32 copies host data into a backend tensor.
func setF32(t tensor, data []float32) {
	if len(data) == 0 || t.buffer == nil {
		return
	}
	C.ggml_backend_tensor_set(t, unsafe.Pointer(&data[0]), 0, C.size_t(4*len(data)))
}

func setI32(t tensor, data []int32) {
	if len(data) == 0 || t.buffer == nil {
		return
	}
	C.ggml_backend_tensor_set(t, unsafe.Pointer(&data[0]), 0, C.size_t(4*len(data)))
}

func setBytes(t tensor, data []byte, offset int) {
	if len(data) == 0 {
		return
	}
	C.ggml_backend_tensor_set(t, unsafe.Pointer(&data[0]), C.size_t(offset), C.size_t(len(data)))
}

func getF32(t tensor) []float32 {
	n := int(C.ggml_nelements(t))
	out := make([]float32, n)
	if n > 0 {
		C.ggml_backend_tensor_get(t, unsafe.Pointer(&out[0]), 0, C.size_t(4*n))
	}
	return out
}

// backend is the compute device's backend (plus the CPU backend as the
// scheduler's fallback when the device is not the CPU) and a scheduler over
// them.
type backend struct {
	main  C.ggml_backend_t // where weights, adapter and graphs live
	cpu   C.ggml_backend_t // CPU backend (== main on the CPU)
	accel C.ggml_backend_t // BLAS backend for the CPU's big products, or nil
	name  string           // device name, e.g. "CPU", "CUDA0"
	isCPU bool
	sched C.ggml_backend_sched_t
	size  int // graph size the scheduler was made for
	// peakCompute is the largest compute buffer the scheduler allocated on
	// the main device and the BLAS backend (bytes), for the memory
	// measurements.
	peakCompute int
}

// pickDevice resolves Config.Device: "cpu", "auto" (the first GPU device
// registered, else the CPU), "cuda" (the first CUDA device; an error
// without one) or an exact ggml device name such as "CUDA1". It returns nil
// for the CPU.
func pickDevice(device string) (C.ggml_backend_dev_t, error) {
	switch device {
	case "cpu":
		return nil, nil
	case "", "auto":
		return C.ggml_backend_dev_by_type(C.GGML_BACKEND_DEVICE_TYPE_GPU), nil
	}
	n := int(C.ggml_backend_dev_count())
	var names []string
	for i := 0; i < n; i++ {
		d := C.ggml_backend_dev_get(C.size_t(i))
		name := C.GoString(C.ggml_backend_dev_name(d))
		names = append(names, name)
		if device == "cuda" && C.ggml_backend_dev_type(d) == C.GGML_BACKEND_DEVICE_TYPE_GPU && strings.HasPrefix(name, "CUDA") {
			return d, nil
		}
		if strings.EqualFold(device, name) {
			if C.ggml_backend_dev_type(d) == C.GGML_BACKEND_DEVICE_TYPE_CPU {
				return nil, nil
			}
			return d, nil
		}
	}
	if device == "cuda" {
		return nil, fmt.Errorf("lora: device cuda: no CUDA device is registered (registered: %s); build the CUDA backend with `make cuda` and make it loadable ($%s or <executable dir>/../lib)",
			strings.Join(names, ", "), llama.BackendPathEnv)
	}
	return nil, fmt.Errorf("lora: unknown device %q (auto, cpu, cuda, or one of: %s)", device, strings.Join(names, ", "))
}

func newBackend(threads, graphSize int, device string, noBLAS bool) (*backend, error) {
	llama.Init() // registers BLAS, loads the dynamically built backends (libggml-cuda.so)
	dev, err := pickDevice(device)
	if err != nil {
		return nil, err
	}
	cpu := C.ggml_backend_cpu_init()
	if cpu == nil {
		return nil, errors.New("lora: could not initialise the ggml CPU backend")
	}
	C.ggml_backend_cpu_set_n_threads(cpu, C.int(threads))
	b := &backend{main: cpu, cpu: cpu, name: "CPU", isCPU: true, size: graphSize}
	backends := []C.ggml_backend_t{cpu}
	if dev != nil {
		main := C.ggml_backend_dev_init(dev, nil)
		if main == nil {
			C.ggml_backend_free(cpu)
			return nil, fmt.Errorf("lora: could not initialise device %s", C.GoString(C.ggml_backend_dev_name(dev)))
		}
		b.main, b.name, b.isCPU = main, C.GoString(C.ggml_backend_dev_name(dev)), false
		backends = []C.ggml_backend_t{main, cpu} // the CPU last: the fallback
	} else if acc := C.ggml_backend_dev_by_type(C.GGML_BACKEND_DEVICE_TYPE_ACCEL); acc != nil && !noBLAS {
		// ggml's BLAS backend (llama.BLAS) shares the CPU's host buffers;
		// put before the CPU, the scheduler gives it every matmul and
		// out_prod it supports (F32 activations, ≥ 32 rows) and leaves the
		// rest to the CPU. As in llama.cpp, it is used only when the main
		// device is the CPU.
		b.accel = C.ggml_backend_dev_init(acc, nil)
		if b.accel != nil {
			C.lora_set_threads(acc, b.accel, C.int(threads))
			backends = []C.ggml_backend_t{b.accel, cpu}
		}
	}
	b.sched = C.ggml_backend_sched_new(&backends[0], nil, C.int(len(backends)), C.size_t(graphSize), false, false)
	if b.sched == nil {
		b.free()
		return nil, errors.New("lora: could not create the ggml scheduler")
	}
	return b, nil
}

func (b *backend) free() {
	if b == nil {
		return
	}
	if b.sched != nil {
		C.ggml_backend_sched_free(b.sched)
		b.sched = nil
	}
	if b.main != nil && b.main != b.cpu {
		C.ggml_backend_free(b.main)
	}
	if b.accel != nil {
		C.ggml_backend_free(b.accel)
		b.accel = nil
	}
	b.main = nil
	if b.cpu != nil {
		C.ggml_backend_free(b.cpu)
		b.cpu = nil
	}
}

// alloc allocates every tensor of g in one buffer of the backend.
func (b *backend) alloc(g *gctx) (C.ggml_backend_buffer_t, error) {
	buf := C.ggml_backend_alloc_ctx_tensors(g.c, b.main)
	if buf == nil {
		return nil, errors.New("lora: could not allocate a backend buffer (out of memory?)")
	}
	return buf, nil
}

// run allocates the graph's intermediate tensors, lets set fill the
// inputs, and computes it.
func (b *backend) run(gf *C.struct_ggml_cgraph, set func()) error {
	if n := int(C.ggml_graph_n_nodes(gf)); n > b.size {
		return fmt.Errorf("lora: graph has %d nodes, more than the scheduler's %d", n, b.size)
	}
	C.ggml_backend_sched_reset(b.sched)
	if !C.ggml_backend_sched_alloc_graph(b.sched, gf) {
		return errors.New("lora: could not allocate the compute graph (out of memory?)")
	}
	b.notePeak()
	if set != nil {
		set()
	}
	if st := C.ggml_backend_sched_graph_compute(b.sched, gf); st != C.GGML_STATUS_SUCCESS {
		return fmt.Errorf("lora: graph compute failed (status %d)", int(st))
	}
	return nil
}

// notePeak records the scheduler's compute buffers (the main device's,
// plus the BLAS backend's, which lives in host memory too) in peakCompute.
func (b *backend) notePeak() {
	sz := int(C.ggml_backend_sched_get_buffer_size(b.sched, b.main))
	if b.accel != nil {
		sz += int(C.ggml_backend_sched_get_buffer_size(b.sched, b.accel))
	}
	b.peakCompute = max(b.peakCompute, sz)
}

func freeBuffer(buf C.ggml_backend_buffer_t) {
	if buf != nil {
		C.ggml_backend_buffer_free(buf)
	}
}
