package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/internal/testmodels"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spf13/pflag"
)

// parsedFlags parses args as the CLI does (llama.cpp spellings rewritten)
// without running the command, and returns every flag's value and the
// positional arguments.
func parsedFlags(t *testing.T, args ...string) (map[string]string, []string) {
	t.Helper()
	root, _ := newRootCmd()
	c, rest, err := root.Find(rewriteLlamaArgs(args))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ParseFlags(rest); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	vals := map[string]string{}
	c.Flags().VisitAll(func(f *pflag.Flag) { vals[f.Name] = f.Value.String() })
	return vals, c.Flags().Args()
}

// TestLlamaCppAliases: every llama.cpp spelling parses to the same
// configuration as our own name for it.
func TestLlamaCppAliases(t *testing.T) {
	for _, c := range []struct{ alias, long []string }{
		{[]string{"generate", "-m", "m.gguf"}, []string{"generate", "--model", "m.gguf"}},
		{[]string{"generate", "x.gguf", "-t", "3"}, []string{"generate", "x.gguf", "--threads", "3"}},
		{[]string{"generate", "x.gguf", "-ngl", "0"}, []string{"generate", "x.gguf", "--gpu-layers", "0"}},
		{[]string{"generate", "x.gguf", "--n-gpu-layers", "all"}, []string{"generate", "x.gguf", "--gpu-layers", "all"}},
		{[]string{"generate", "x.gguf", "-c", "512"}, []string{"generate", "x.gguf", "--ctx", "512"}},
		{[]string{"generate", "x.gguf", "--ctx-size", "512"}, []string{"generate", "x.gguf", "--ctx", "512"}},
		{[]string{"generate", "x.gguf", "--n-predict", "7"}, []string{"generate", "x.gguf", "-n", "7"}},
		{[]string{"generate", "x.gguf", "-s", "9"}, []string{"generate", "x.gguf", "--seed", "9"}},
		{[]string{"generate", "x.gguf", "-f", "p.txt"}, []string{"generate", "x.gguf", "--file", "p.txt"}},
		{[]string{"generate", "x.gguf", "-r", "END"}, []string{"generate", "x.gguf", "--stop", "END"}},
		{[]string{"generate", "x.gguf", "--reverse-prompt", "END"}, []string{"generate", "x.gguf", "--stop", "END"}},
		{[]string{"generate", "x.gguf", "-fa"}, []string{"generate", "x.gguf", "--flash-attn", "on"}},
		{[]string{"generate", "x.gguf", "-fa", "off"}, []string{"generate", "x.gguf", "--flash-attn", "off"}},
		{[]string{"generate", "x.gguf", "-ctk", "f32", "-ctv", "f32"}, []string{"generate", "x.gguf", "--cache-type-k", "f32", "--cache-type-v", "f32"}},
		{[]string{"generate", "x.gguf", "--lora-scaled", "a.gguf", "0.5"}, []string{"generate", "x.gguf", "--lora", "a.gguf:0.5"}},
		{[]string{"sample", "x.gguf", "--n-predict", "5", "-s", "2", "-r", "."}, []string{"sample", "x.gguf", "--max-tokens", "5", "--seed", "2", "--stop", "."}},
		{[]string{"sample", "-m", "x.gguf", "-ctk", "q8_0"}, []string{"sample", "--model", "x.gguf", "--cache-type-k", "q8_0"}},
		{[]string{"tune", "-m", "b.gguf", "-s", "3", "-t", "2"}, []string{"tune", "--model", "b.gguf", "--seed", "3", "--threads", "2"}},
		{[]string{"eval", "steer", "-m", "b.gguf", "-s", "3"}, []string{"eval", "steer", "--model", "b.gguf", "--seed", "3"}},
		{[]string{"chat", "x.gguf", "--n-predict", "9", "--ctx-size", "256"}, []string{"chat", "x.gguf", "-n", "9", "--ctx", "256"}},
	} {
		a, aa := parsedFlags(t, c.alias...)
		l, la := parsedFlags(t, c.long...)
		if !reflect.DeepEqual(a, l) || !reflect.DeepEqual(aa, la) {
			for k := range l {
				if a[k] != l[k] {
					t.Errorf("%v vs %v: --%s = %q vs %q", c.alias, c.long, k, a[k], l[k])
				}
			}
			if !reflect.DeepEqual(aa, la) {
				t.Errorf("%v vs %v: arguments %q vs %q", c.alias, c.long, aa, la)
			}
		}
	}
	// "-ngl 0" is not read as "-n gl".
	v, _ := parsedFlags(t, "generate", "x.gguf", "-ngl", "0")
	if v["n"] != "128" || v["gpu-layers"] != "0" {
		t.Errorf("-ngl 0: n=%s gpu-layers=%s", v["n"], v["gpu-layers"])
	}
}

// TestGenerateLlamaStyle: a prompt from stdin, a stop string (not printed),
// an adapter and llama.cpp-style timings on stderr.
func TestGenerateLlamaStyle(t *testing.T) {
	stories := filepath.Join(sharedModels, "stories260K.gguf")
	full, _, err := runCLI(t, "generate", stories, "-p", "Once upon a time", "-n", "30", "--temp", "0", "-q")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := newRootCmd()
	var out, errb strings.Builder
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader("Once upon a time"))
	root.SetArgs(rewriteLlamaArgs([]string{"generate", "-m", stories, "-f", "-", "--n-predict", "30", "--temp", "0", "-r", "girl", "-t", "1"}))
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(full, "girl")
	if i < 0 {
		t.Fatalf("the greedy text has no \"girl\": %q", full)
	}
	if out.String() != full[:i]+"\n" {
		t.Errorf("with -r girl: %q, want %q", out.String(), full[:i]+"\n")
	}
	if !strings.Contains(errb.String(), "prompt eval: 5 tokens in ") || !strings.Contains(errb.String(), "tokens/s)\ngeneration: ") {
		t.Errorf("timings: %q", errb.String())
	}
	// An adapter at scale 0 changes nothing; the flag is accepted.
	dir := t.TempDir()
	ad := filepath.Join(dir, "a.gguf")
	if _, _, err := runCLI(t, "tune", stories, "--tasks", "coinflip", "--rows-per-task", "4", "--max-steps", "1", "--rank", "2",
		"--eval-tasks", "none", "--max-length", "64", "-q", "-o", ad); err != nil {
		t.Fatal(err)
	}
	got, _, err := runCLI(t, "generate", stories, "-p", "Once upon a time", "-n", "30", "--temp", "0", "-q", "--lora-scaled", ad, "0")
	if err != nil || got != full {
		t.Errorf("--lora-scaled A 0: %q (%v), want %q", got, err, full)
	}
	// info knows the adapter and checks it against its base.
	info, _, err := runCLI(t, "info", ad, "--base", stories)
	for _, want := range []string{"LoRA adapter (lora)", "targets", "attn_q", "rank                        2", "spectrum.base.file          stories260K.gguf",
		"fits " + stories + " (architecture, tensors, shapes)", "(the file it was trained on)"} {
		if err != nil || !strings.Contains(info, want) {
			t.Errorf("info on the adapter lacks %q (%v):\n%s", want, err, info)
		}
	}
	js, _, err := runCLI(t, "info", "--json", ad)
	var a struct {
		Type       string            `json:"type"`
		Ranks      []int             `json:"ranks"`
		Alpha      float64           `json:"alpha"`
		Provenance map[string]string `json:"provenance"`
	}
	if err != nil || json.Unmarshal([]byte(js), &a) != nil || a.Type != "adapter" || !reflect.DeepEqual(a.Ranks, []int{2}) || a.Alpha != 32 || a.Provenance["steps"] != "1" {
		t.Errorf("info --json on the adapter: %v %s", err, js)
	}
	// JSON keeps < and > as they are.
	tok, _, err := runCLI(t, "tokenize", "--json", stories, "<s>")
	if err != nil || strings.Contains(tok, `\u003c`) {
		t.Errorf("tokenize --json escapes HTML: %s", tok)
	}
}

func TestVersion(t *testing.T) {
	out, _, err := runCLI(t, "--version")
	if err != nil || !strings.HasPrefix(out, "spectrum ") || !strings.Contains(out, "llama.cpp and ggml: from github.com/ollama/ollama v0.17.4") || !strings.Contains(out, "backends: CPU") {
		t.Errorf("--version: %v\n%s", err, out)
	}
	// The BLAS line names the library, or says why there is none.
	if lib, err := llama.BLAS(); lib != "" && !strings.Contains(out, "\nblas: "+lib+"\n") {
		t.Errorf("--version does not name BLAS %q:\n%s", lib, out)
	} else if lib == "" && !strings.Contains(out, "\nblas: none (") {
		t.Errorf("--version does not say why there is no BLAS (%v):\n%s", err, out)
	}
}

// TestMissingArgumentUsage: a missing argument prints the usage line.
func TestMissingArgumentUsage(t *testing.T) {
	_, _, err := runCLI(t, "tokenize", filepath.Join(sharedModels, "stories260K.gguf"))
	if err == nil || !strings.Contains(err.Error(), "want MODEL.gguf (or -m) and TEXT, got 1 argument(s)\nusage: spectrum tokenize MODEL.gguf TEXT [flags]") {
		t.Errorf("tokenize without text: %v", err)
	}
}

// TestChat: piped messages are answered one per line through SmolLM2's
// chat template; the steerable mode samples a distribution; a base model
// without a template is refused with a suggestion.
func TestChat(t *testing.T) {
	smol := testmodels.SmolLM2(t)
	root, _ := newRootCmd()
	var out, errb strings.Builder
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader("What is the capital of France?\n\n/system You answer in one word.\n/description A US state\n/example Ohio\n/example Utah\n/sample 6\n/nope\n"))
	root.SetArgs([]string{"chat", smol, "--temp", "0", "-n", "24", "-q"})
	if err := root.Execute(); err != nil {
		t.Fatal(err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 8 || !strings.Contains(lines[0], "Paris") {
		t.Fatalf("chat output:\n%s", out.String())
	}
	for _, want := range []string{"(system message set; conversation reset)", "(description set)", "(2 examples)", "distinct of 6; entropy ", "(spectrum (chatml))", "error: unknown command /nope (/help lists them)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("chat output lacks %q:\n%s", want, out.String())
		}
	}
	if testing.Short() {
		return
	}
	g, err := testmodels.GemmaPath()
	if err != nil {
		if testmodels.InCI() {
			t.Fatal(err)
		}
		return
	}
	_, _, err = runCLI(t, "chat", g)
	if err == nil || !strings.Contains(err.Error(), "has no chat template") || !strings.Contains(err.Error(), "use `spectrum generate`") {
		t.Errorf("chat on Gemma 3 270M (base): %v", err)
	}
	if _, err := os.Stat(g); err != nil {
		t.Fatal(err)
	}
}

// TestProgressOffTerminal: with stderr not a terminal, progress is plain
// lines (no carriage-return frames, no rate before a measurement).
func TestProgressOffTerminal(t *testing.T) {
	_, stderr, err := runCLI(t, "sample", filepath.Join(sharedModels, "stories260K.gguf"), "-p", "Once", "-n", "8", "--max-tokens", "4")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "\r") || strings.Contains(stderr, "/hr") || !strings.Contains(stderr, "sampling: 8/8 completions (100%), ") {
		t.Errorf("stderr off a terminal: %q", stderr)
	}
}
