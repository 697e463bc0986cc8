package llama_test

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/llamatest"
	"github.com/spectrumkit/spectrum/internal/testmodels"
	"github.com/spectrumkit/spectrum/llama"
)

// blasChild is what TestBLASChild prints.
type blasChild struct {
	Lib     string    `json:"lib"`
	Err     string    `json:"err"`
	Devices []string  `json:"devices"`
	Logits  []float32 `json:"logits"`
	Output  string    `json:"-"` // the child's whole output
}

// TestBLASChild runs in a child process of TestBLASEnv (BLAS is chosen
// once per process); without SPECTRUM_TEST_BLAS_CHILD it does nothing.
func TestBLASChild(t *testing.T) {
	if os.Getenv("SPECTRUM_TEST_BLAS_CHILD") == "" {
		t.Skip("a child process of TestBLASEnv")
	}
	var r blasChild
	lib, err := llama.BLAS()
	r.Lib = lib
	if err != nil {
		r.Err = err.Error()
	}
	for _, d := range llama.Devices() {
		r.Devices = append(r.Devices, d.Name+"/"+d.Type)
	}
	ids := make([]llama.Token, 40) // ≥ 32 tokens: the products reach BLAS
	for i := range ids {
		ids[i] = llama.Token(1 + (i*37)%500)
	}
	r.Logits = llamatest.TokenLogits(t, filepath.Join("..", "..", "shared", "models", "stories260K.gguf"), nil, ids)
	b, _ := json.Marshal(r)
	os.Stdout.Write(append([]byte("BLASCHILD "), append(b, '\n')...))
}

func runBLASChild(t *testing.T, env string) blasChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBLASChild$")
	cmd.Env = append(os.Environ(), "SPECTRUM_TEST_BLAS_CHILD=1", llama.BLASEnv+"="+env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s=%s: %v\n%s", llama.BLASEnv, env, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "BLASCHILD "); ok {
			var r blasChild
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatal(err)
			}
			r.Output = string(out)
			return r
		}
	}
	t.Fatalf("%s=%s: no result:\n%s", llama.BLASEnv, env, out)
	return blasChild{}
}

// TestBLASEnv: SPECTRUM_BLAS turns the BLAS backend off or names the
// library; a library that cannot be opened leaves the CPU kernels and says
// why; with OpenBLAS, llama.cpp's logits of a 40-token batch equal those of
// ggml's kernels up to float rounding (stories260K is F32, so both multiply
// the same values; sums in another order differ by ~1e-6 of the logit
// scale, 1e-4 leaves margin and is far below any wrong product).
func TestBLASEnv(t *testing.T) {
	off := runBLASChild(t, "off")
	if off.Lib != "" || !strings.Contains(off.Err, "turned off by SPECTRUM_BLAS=off") || strings.Contains(strings.Join(off.Devices, " "), "BLAS") {
		t.Errorf("SPECTRUM_BLAS=off: %+v", off)
	}
	bad := runBLASChild(t, "/nonexistent/libnoblas.so")
	if bad.Lib != "" || !strings.Contains(bad.Err, "/nonexistent/libnoblas.so") {
		t.Errorf("SPECTRUM_BLAS=/nonexistent/libnoblas.so: lib %q, err %q", bad.Lib, bad.Err)
	}
	// A library the user named and that cannot serve is a warning on stderr.
	if !strings.Contains(bad.Output, "SPECTRUM_BLAS=/nonexistent/libnoblas.so: ") || !strings.Contains(bad.Output, "using ggml's CPU kernels") {
		t.Errorf("no warning for an unusable SPECTRUM_BLAS:\n%s", bad.Output)
	}
	on := runBLASChild(t, "")
	if on.Lib == "" {
		if testmodels.InCI() {
			t.Fatalf("no BLAS library (%s); CI installs OpenBLAS (libopenblas0) and oneMKL (make mkl)", on.Err)
		}
		t.Skipf("no BLAS library: %s", on.Err)
	}
	// The default prefers oneMKL where `make mkl` put it; each library is
	// also checked by name.
	mkl := filepath.Join(llama.MKLDir(), "libmkl_rt.so.3")
	_, mklErr := os.Stat(mkl)
	if (mklErr == nil) != strings.Contains(on.Lib, "Math Kernel Library") {
		t.Errorf("default BLAS %q, oneMKL installed: %v", on.Lib, mklErr == nil)
	}
	libs := map[string]blasChild{"default": on, "libopenblas.so.0": runBLASChild(t, "libopenblas.so.0")}
	if mklErr == nil {
		libs[mkl] = runBLASChild(t, mkl)
	} else if testmodels.InCI() {
		t.Errorf("oneMKL is not installed in %s (CI runs make mkl)", llama.MKLDir())
	}
	if ob := libs["libopenblas.so.0"]; !strings.HasPrefix(ob.Lib, "OpenBLAS ") {
		t.Errorf("SPECTRUM_BLAS=libopenblas.so.0: lib %q, err %q", ob.Lib, ob.Err)
	}
	for name, r := range libs {
		if r.Lib == "" || !strings.Contains(strings.Join(r.Devices, " "), "BLAS/accel") {
			t.Errorf("%s: lib %q (%s), devices %v", name, r.Lib, r.Err, r.Devices)
			continue
		}
		if len(r.Logits) != len(off.Logits) || len(r.Logits) == 0 {
			t.Fatalf("%s: %d vs %d logits", name, len(r.Logits), len(off.Logits))
		}
		rel := llamatest.RelMaxDiff(r.Logits, off.Logits)
		t.Logf("%s (%s): logits vs ggml's kernels: max diff %.3g of the logit scale %.3g", name, r.Lib, rel, llamatest.MaxAbs(off.Logits))
		if rel > 1e-4 || math.IsNaN(rel) {
			t.Errorf("%s: BLAS logits differ by %.3g", name, rel)
		}
	}
}
