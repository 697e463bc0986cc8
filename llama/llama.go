// Package llama is spectrum's cgo binding over llama.cpp and ggml, compiled
// from the pinned github.com/ollama/ollama module.
//
// It exposes small Go types — Model, Context, Batch, Sampler, Adapter — each
// with a Close method, and returns errors instead of letting llama.cpp abort
// the process where that can be checked beforehand (GGUF files are validated
// in pure Go by package models before llama.cpp sees them).
//
// Concurrency: Init, LoadModel, Quantize and the read-only methods of Model
// (metadata, Tokenize, Detokenize, TokenToPiece) are safe to call from several
// goroutines. A Context, a Batch and a Sampler must be used by one goroutine
// at a time; several Contexts over one Model may run concurrently.
package llama

/*
#include <stdlib.h>
#include <llama.h>
#include <ggml-backend.h>
*/
import "C"

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	_ "github.com/ollama/ollama/llama/llama.cpp/src" // compiles libllama and ggml
)

// Token is a vocabulary id; an alias so that []Token is []int32.
type Token = int32

// Pos is a position within a sequence.
type Pos = int32

// SeqID identifies a sequence in a context's KV memory.
type SeqID = int32

// NoToken is returned where a model has no such special token.
const NoToken Token = -1

var initOnce sync.Once

// BackendPathEnv names the environment variable that points at a folder of
// dynamically loadable ggml backends (e.g. libggml-cuda.so).
const BackendPathEnv = "SPECTRUM_BACKEND_PATH"

// Init loads the optional ggml backend libraries and initialises llama.cpp.
// It is called by LoadModel and the other entry points; calling it again is
// a no-op. Backends are looked for in $SPECTRUM_BACKEND_PATH, else in
// <dir of the executable>/lib and <dir of the executable>/../lib.
func Init() {
	initOnce.Do(func() {
		installLogger()
		initBLAS()
		for _, dir := range backendDirs() {
			cdir := C.CString(dir)
			C.ggml_backend_load_all_from_path(cdir)
			C.free(unsafePointer(cdir))
		}
		C.llama_backend_init()
	})
}

// backendDirs lists the folders that hold loadable backend libraries.
func backendDirs() []string {
	var cands []string
	if p := os.Getenv(BackendPathEnv); p != "" {
		cands = filepath.SplitList(p)
	} else if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		cands = []string{filepath.Join(d, "lib"), filepath.Join(d, "..", "lib")}
	}
	var dirs []string
	for _, d := range cands {
		// Only folders that really hold ggml backends: scanning others costs
		// time and can log confusing errors.
		m, _ := filepath.Glob(filepath.Join(d, "libggml-*"))
		if len(m) > 0 {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// SystemInfo reports the CPU features ggml was compiled with.
func SystemInfo() string {
	Init()
	return strings.TrimSpace(C.GoString(C.llama_print_system_info()))
}

// SupportsGPUOffload reports whether a GPU backend is loaded.
func SupportsGPUOffload() bool {
	Init()
	return bool(C.llama_supports_gpu_offload())
}

// Device is a compute device ggml can run on.
type Device struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Type        string `json:"type"`         // "cpu", "gpu", "igpu" or "accel"
	MemoryFree  uint64 `json:"memory_free"`  // bytes
	MemoryTotal uint64 `json:"memory_total"` // bytes
}

// Devices lists the devices of every registered backend.
func Devices() []Device {
	Init()
	n := int(C.ggml_backend_dev_count())
	out := make([]Device, 0, n)
	for i := 0; i < n; i++ {
		d := C.ggml_backend_dev_get(C.size_t(i))
		var free, total C.size_t
		C.ggml_backend_dev_memory(d, &free, &total)
		typ := "cpu"
		switch C.ggml_backend_dev_type(d) {
		case C.GGML_BACKEND_DEVICE_TYPE_GPU:
			typ = "gpu"
		case C.GGML_BACKEND_DEVICE_TYPE_IGPU:
			typ = "igpu"
		case C.GGML_BACKEND_DEVICE_TYPE_ACCEL:
			typ = "accel"
		}
		out = append(out, Device{
			Name:        C.GoString(C.ggml_backend_dev_name(d)),
			Description: C.GoString(C.ggml_backend_dev_description(d)),
			Type:        typ,
			MemoryFree:  uint64(free),
			MemoryTotal: uint64(total),
		})
	}
	return out
}

// DefaultThreads is the number of physical CPU cores, capped at the CPUs this
// process may use (AvailableCPUs): llama.cpp's own default of 4
// oversubscribes small machines and containers, and ggml's workers spin.
func DefaultThreads() int {
	n := AvailableCPUs()
	if p := physicalCores(); p > 0 && p < n {
		n = p
	}
	return n
}

// AvailableCPUs is the number of CPUs this process may run on: the CPU
// affinity mask (taskset, numactl; what runtime.NumCPU reports on Linux),
// lowered to a cgroup CPU quota where one is set (docker --cpus, Kubernetes
// limits, systemd CPUQuota), rounded up.
func AvailableCPUs() int {
	n := runtime.NumCPU()
	if q := cgroupCPUQuota(); q > 0 && q < n {
		n = q
	}
	return max(n, 1)
}

// cgroupCPUQuota reads the CPU quota of cgroup v2 (cpu.max) or v1
// (cpu.cfs_quota_us / cpu.cfs_period_us) as whole CPUs; 0 when none is set.
func cgroupCPUQuota() int {
	quota := func(q, p float64) int {
		if q <= 0 || p <= 0 {
			return 0
		}
		return int(math.Ceil(q / p))
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/cpu.max"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 && f[0] != "max" {
			q, err1 := strconv.ParseFloat(f[0], 64)
			p, err2 := strconv.ParseFloat(f[1], 64)
			if err1 == nil && err2 == nil {
				return quota(q, p)
			}
		}
		return 0
	}
	qb, err1 := os.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
	pb, err2 := os.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
	if err1 != nil || err2 != nil {
		return 0
	}
	q, err1 := strconv.ParseFloat(strings.TrimSpace(string(qb)), 64)
	p, err2 := strconv.ParseFloat(strings.TrimSpace(string(pb)), 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return quota(q, p)
}

// physicalCores counts distinct (package, core) pairs on Linux; 0 elsewhere.
func physicalCores() int {
	paths, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*/topology/core_id")
	seen := map[string]bool{}
	for _, p := range paths {
		core, err1 := os.ReadFile(p)
		pkg, err2 := os.ReadFile(filepath.Join(filepath.Dir(p), "physical_package_id"))
		if err1 != nil || err2 != nil {
			return 0
		}
		seen[strings.TrimSpace(string(pkg))+"/"+strings.TrimSpace(string(core))] = true
	}
	if n := len(seen); n > 0 && n <= runtime.NumCPU() {
		return n
	}
	return 0
}

// AutoThreads is the thread count for a model of nParams parameters: 1
// under 20M parameters (ggml's spinning workers cost more than they give
// for tiny models), else DefaultThreads.
func AutoThreads(nParams uint64) int {
	if nParams > 0 && nParams < 20_000_000 {
		return 1
	}
	return DefaultThreads()
}
