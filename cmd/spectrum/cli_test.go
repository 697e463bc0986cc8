package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var sharedModels = filepath.Join("..", "..", "..", "shared", "models")

// runCLI runs the spectrum command line in-process and returns what it wrote
// to stdout and stderr.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCLIContext(t, context.Background(), args...)
}

func TestGenerateGolden(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(sharedModels, "stories260K.greedy200.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "generate", filepath.Join(sharedModels, "stories260K.gguf"), "-n", "200", "--temp", "0")
	if err != nil {
		t.Fatal(err)
	}
	if out != " "+string(want)+"\n" {
		t.Errorf("generate --temp 0 -n 200:\n got %q\nwant %q", out, " "+string(want)+"\n")
	}
}

func TestInfoJSON(t *testing.T) {
	out, _, err := runCLI(t, "info", "--json", filepath.Join(sharedModels, "vocab", "ggml-vocab-phi-3.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	var got modelInfoJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Family != "phi3" || got.VocabSize != 32064 || got.Tokenizer != "llama" || *got.SpecialTokens["eos"] != 32000 {
		t.Errorf("info --json = %+v", got)
	}
}

func TestTokenizeCLI(t *testing.T) {
	out, _, err := runCLI(t, "tokenize", filepath.Join(sharedModels, "stories260K.gguf"), "Once upon")
	if err != nil {
		t.Fatal(err)
	}
	want := "     1  \"<s>\"\n   403  \" Once\"\n   407  \" upon\"\n"
	if out != want {
		t.Errorf("tokenize:\n got %q\nwant %q", out, want)
	}
}

// TestCLIBadInput: each bad input is an error naming the problem.
func TestCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.gguf")
	os.WriteFile(junk, []byte("this is not a model"), 0o644)
	stories := filepath.Join(sharedModels, "stories260K.gguf")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"generate", stories, "-n", "-1"}, "-n must be ≥ 1"},
		{[]string{"generate", "--threads", "0", stories}, "--threads must be ≥ 1"},
		{[]string{"generate", filepath.Join(dir, "missing.gguf")}, "no such file"},
		{[]string{"generate", junk}, "not a GGUF"},
		{[]string{"generate", filepath.Join(sharedModels, "vocab", "ggml-vocab-llama-spm.gguf")}, "vocabulary-only"},
		{[]string{"info", junk}, "not a GGUF"},
		{[]string{"quantize", stories, stories, "q8_0"}, "is also an input"},
		{[]string{"quantize", stories, filepath.Join(dir, "o.gguf"), "q7"}, "unknown quantization type"},
		{[]string{"generate", stories, "--top-p", "3"}, "top-p"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, _, err := runCLI(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
