package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestSampleCLI(t *testing.T) {
	stories := filepath.Join(sharedModels, "stories260K.gguf")
	out, _, err := runCLI(t, "sample", stories, "-p", "Once upon a time", "-n", "4", "--max-tokens", "6", "--temp", "0", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat(", there was a little g\n", 4); out != want {
		t.Errorf("greedy samples:\n got %q\nwant %q", out, want)
	}
	out, _, err = runCLI(t, "sample", stories, "-p", "Once upon a time", "-n", "5", "--max-tokens", "6", "--seed", "3", "--jsonl", "--logprobs", "-q")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d JSONL lines, want 5", len(lines))
	}
	seen := map[int]bool{}
	for _, l := range lines {
		var c struct {
			Row, Index, Tokens int
			Text, Finish       string
			LogProb            *float64
		}
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatal(err)
		}
		if c.Tokens != 6 || c.Finish != "length" || c.LogProb == nil || c.Text == "" {
			t.Errorf("record %s", l)
		}
		seen[c.Index] = true
	}
	if len(seen) != 5 {
		t.Errorf("indices %v", seen)
	}
	out, _, err = runCLI(t, "sample", stories, "--description", "A name", "-e", "Lily", "-n", "6", "--temp", "0", "--max-tokens", "4", "--count", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, "1 distinct of 6; entropy 0.000 nats (0.000 bits)\n") || !strings.HasPrefix(out, "     6  100.0%  ████████████████████") {
		t.Errorf("--count output:\n%s", out)
	}
}

func TestSampleCLIBadInput(t *testing.T) {
	stories := filepath.Join(sharedModels, "stories260K.gguf")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"sample", stories, "-p", "x", "-n", "0"}, "-n must be ≥ 1, got 0"},
		{[]string{"sample", stories, "-p", "x", "--max-tokens", "0"}, "--max-tokens must be ≥ 1, got 0"},
		{[]string{"sample", stories, "-p", "x", "--parallel", "-2"}, "--parallel"},
		{[]string{"sample", stories}, "nothing to prompt with"},
		{[]string{"sample", stories, "-p", "x", "--lora", filepath.Join(sharedModels, "llama-2-tiny-random.gguf")}, "LoRA adapter"},
		{[]string{"sample", stories, "-e", "a", "--format", "spectrum"}, "needs a model family with turn tokens"},
		{[]string{"sample", stories, "--rows", filepath.Join(t.TempDir(), "none.jsonl")}, "no such file"},
		{[]string{"sample", stories, "-p", "x", "--jsonl", "--count"}, "none of the others"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[2:], " "), func(t *testing.T) {
			_, _, err := runCLI(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestSampleOutputResume: -o appends records; a re-run after a cut-off run
// draws only what is missing, and the local sampler's per-completion seeds
// make the redrawn completions the ones the first run drew.
func TestSampleOutputResume(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.jsonl")
	args := []string{"sample", filepath.Join(sharedModels, "stories260K.gguf"), "-p", "Once upon a time", "-n", "6", "--max-tokens", "12", "--seed", "9", "-o", out, "-q"}
	if _, _, err := runCLI(t, args...); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(full), "\n")
	if len(lines) != 7 || lines[6] != "" {
		t.Fatalf("%d lines:\n%s", len(lines), full)
	}
	os.WriteFile(out, []byte(strings.Join(lines[:2], "")+lines[2][:10]), 0o644)
	if _, _, err := runCLI(t, args...); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(out)
	got := strings.SplitAfter(string(again), "\n")
	sortLines := func(l []string) []string { l = append([]string(nil), l...); sort.Strings(l); return l }
	if !reflect.DeepEqual(sortLines(got), sortLines(lines)) {
		t.Errorf("after resuming:\n%s\nwant the lines of\n%s", again, full)
	}
	if _, _, err := runCLI(t, "sample", filepath.Join(sharedModels, "stories260K.gguf"), "-p", "x", "-o", out, "--count"); err == nil {
		t.Error("-o with --count accepted")
	}
}
