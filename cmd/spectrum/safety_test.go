package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/log"
)

// runCLIContext is runCLI with a context (a signal's cancellation).
func runCLIContext(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root, _ := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(rewriteLlamaArgs(args))
	log.SetOutput(&errb)
	defer log.SetOutput(os.Stderr)
	err = root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// TestImpossibleValuesRefused: every impossible flag value is refused
// before work, with the flag's own name; each case was accepted before.
func TestImpossibleValuesRefused(t *testing.T) {
	dir := t.TempDir()
	stories := filepath.Join(sharedModels, "stories260K.gguf")
	rows := filepath.Join(dir, "rows.jsonl")
	if _, _, err := runCLI(t, "suite", "generate", "coinflip", "--rows", "2", "-o", rows); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	out := filepath.Join(dir, "a.gguf")
	tune := []string{"tune", stories, "--tasks", "coinflip", "-o", out}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"generate", stories, "--temp", "-1"}, "--temp must be ≥ 0, got -1"},
		{[]string{"generate", stories, "--temp", "NaN"}, "--temp: want a finite number, got NaN"},
		{[]string{"sample", stories, "-p", "x", "--temp", "Inf"}, "--temp: want a finite number, got +Inf"},
		{[]string{"sample", stories, "-p", "x", "--min-p", "2"}, "--min-p must be in [0, 1], got 2"},
		{[]string{"sample", stories, "-p", "x", "--lora", "a.gguf:NaN"}, "--lora a.gguf:NaN: SCALE must be a finite number in [-100, 100], got NaN"},
		{[]string{"sample", stories, "-p", "x", "--lora", "a.gguf:Inf"}, "SCALE must be a finite number"},
		{[]string{"sample", stories, "-p", "x", "--lora", "a.gguf:1e30"}, "SCALE must be a finite number in [-100, 100], got 1e30"},
		{[]string{"eval", "steer", stories, "--lora", "a.gguf:NaN"}, "SCALE must be a finite number"},
		{[]string{"sample", stories, "-p", "x", "--format", "bogus"}, "--format applies to prompts built from"},
		{[]string{"sample", stories, "--rows", empty}, empty + " holds no rows"},
		{[]string{"suite", "show", empty}, empty + " holds no rows"},
		{[]string{"format", stories, empty}, empty + " holds no rows"},
		{[]string{"suite", "export", stories, empty, "--to", "tokens"}, empty + " holds no rows"},
		{[]string{"tokenize", stories, "x", "--threads", "0"}, "--threads must be ≥ 1"},
		{[]string{"sample", stories, "-p", "x", "-n", "0"}, "-n must be ≥ 1, got 0"},
		{[]string{"eval", "steer", stories, "--pack", "0"}, "--pack must be ≥ 1, got 0"},
		{[]string{"suite", "generate", "coinflip", "--description-prob", "2"}, "--description-prob must be in [0, 1], got 2"},
		{[]string{"generate", stories, "--seed", "-1"}, `--seed: want a whole number ≥ 0, got "-1"`},
		{append(tune, "--max-steps", "0"), "--max-steps must be ≥ 1, got 0"},
		{append(tune, "--epochs", "0"), "--epochs must be ≥ 1, got 0"},
		{append(tune, "--clip", "-1"), "--clip must be ≥ 0, got -1"},
		{append(tune, "--lr", "NaN"), "--lr: want a finite number, got NaN"},
		{append(tune, "--rank", "100000"), "--rank 100000 is more than the narrowest adapted matrix of " + stories + " (32): use at most 32"},
		{append(tune, "--max-length", "100000"), "--max-length 100000 is more than " + stories + "'s context length (2048)"},
		{append(tune, "--description-prob", "1.5"), "--description-prob must be in [0, 1], got 1.5"},
		{append(tune, "--format", "bogus"), `--format must be auto, spectrum or colon, got "bogus"`},
		{[]string{"tune", stories, "--rows", empty, "-o", out}, empty + " holds no rows"},
		{append(tune, "--resume", "--checkpoint-dir", filepath.Join(dir, "none")), "--resume: no readable checkpoint at " + filepath.Join(dir, "none", "checkpoint.gguf")},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, _, err := runCLI(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a refused tune wrote its adapter")
	}
	// --threads beyond the CPUs this process may use warns once.
	_, stderr, err := runCLI(t, "tokenize", stories, "x", "--threads", "4096")
	if err != nil || strings.Count(stderr, "--threads 4096 is more than the") != 1 {
		t.Errorf("--threads 4096: %v, stderr %q", err, stderr)
	}
}

// TestOutputsNeverReplaceInputsOrDevices: -o that is an input, a checkpoint
// file or an unwritable path is refused before any work; a device is
// written, never replaced.
func TestOutputsNeverReplaceInputsOrDevices(t *testing.T) {
	dir := t.TempDir()
	stories := filepath.Join(sharedModels, "stories260K.gguf")
	rows := filepath.Join(dir, "rows.jsonl")
	if _, _, err := runCLI(t, "suite", "generate", "coinflip", "--rows", "3", "-o", rows); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(rows)
	link := filepath.Join(dir, "link.jsonl")
	os.Symlink(rows, link)
	notDir := filepath.Join(rows, "x.json") // a folder that is a file: unwritable even for root
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tune", stories, "--rows", rows, "-o", rows}, "the adapter (-o) would overwrite the rows file " + rows},
		{[]string{"tune", stories, "--rows", rows, "-o", link}, "the adapter (-o) would overwrite the rows file " + rows},
		{[]string{"tune", stories, "--rows", link, "-o", filepath.Join(dir, "a.gguf"), "--checkpoint-dir", dir}, ""},
		{[]string{"tune", stories, "--tasks", "coinflip", "-o", filepath.Join(dir, "checkpoint.gguf")}, "the adapter (-o) and the checkpoint would both be"},
		{[]string{"tune", stories, "--tasks", "coinflip", "-o", notDir}, "not a directory"},
		{[]string{"eval", "steer", stories, "--tasks", "negative_binomial", "-o", notDir}, "not a directory"},
		{[]string{"eval", "steer", stories, "--rows", rows, "--rows-out", rows}, "is also an input"},
		{[]string{"eval", "steer", stories, "--rows", rows, "-o", filepath.Join(dir, "r.json"), "--rows-out", filepath.Join(dir, "r.json")}, "two outputs are the same file"},
		{[]string{"suite", "export", stories, rows, "--to", "tokens", "-o", link}, "is also an input"},
		{[]string{"suite", "import", rows, "--output-column", "task", "-o", rows}, "is also an input"},
		{[]string{"merge", stories, "--lora", rows, "-o", notDir}, "not a directory"},
		{[]string{"synth", "tiny", "-o", notDir}, "not a directory"},
		{[]string{"sample", stories, "--rows", rows, "-o", rows}, "is also an input"},
		{[]string{"sample", stories, "-p", "x", "-o", rows}, "holds 3 completions but no settings file"},
		{[]string{"sample", stories, "-p", "x", "-o", "/dev/null"}, "-o /dev/null is not a regular file"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			if c.want == "" { // the rows through a symlink inside --checkpoint-dir named like the log
				os.Symlink(rows, filepath.Join(dir, "train-log.jsonl"))
				defer os.Remove(filepath.Join(dir, "train-log.jsonl"))
				c.want = "the training log would overwrite the rows file"
			}
			_, _, err := runCLI(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if after, _ := os.ReadFile(rows); !bytes.Equal(before, after) {
		t.Fatal("the rows file changed")
	}
	// Devices are written in place and stay devices.
	for _, args := range [][]string{
		{"suite", "generate", "coinflip", "--rows", "2", "-o", "/dev/null"},
		{"suite", "export", stories, rows, "--to", "tokens", "-o", "/dev/null"},
	} {
		if _, _, err := runCLI(t, args...); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("%v replaced /dev/null: %v %v", args, fi.Mode(), err)
		}
	}
	if _, err := os.Stat("/dev/full"); err == nil {
		_, _, err := runCLI(t, "suite", "generate", "coinflip", "--rows", "2", "-o", "/dev/full")
		if err == nil || !strings.Contains(err.Error(), "writing /dev/full: no space left on device") {
			t.Errorf("-o /dev/full: %v", err)
		}
	}
	// No temporary file is left anywhere in the folder.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "spectrum-tmp") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestSampleFileRefusesOtherRuns: -o records the run's settings and refuses
// to mix completions of other settings; asking for more completions of the
// same run extends the file.
func TestSampleFileRefusesOtherRuns(t *testing.T) {
	stories := filepath.Join(sharedModels, "stories260K.gguf")
	out := filepath.Join(t.TempDir(), "sub", "s.jsonl") // a missing folder is made
	base := []string{"sample", stories, "-p", "Once", "--max-tokens", "3", "--seed", "4", "-o", out, "-q"}
	if _, _, err := runCLI(t, append(base, "-n", "3")...); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		extra []string
		want  string
	}{
		{[]string{"-n", "3", "--temp", "0.5"}, `temp: file "1", this run "0.5"`},
		{[]string{"-n", "3", "--seed", "5"}, `seed: file "4", this run "5"`},
		{[]string{"-n", "3", "--max-tokens", "4"}, `max_tokens: file "3", this run "4"`},
		{[]string{"-n", "3", "-p", "Twice"}, "prompts_sha256"},
	} {
		args := append(append([]string{}, base...), c.extra...)
		_, _, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "holds completions drawn with other settings") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.extra, err, c.want)
		}
	}
	if _, _, err := runCLI(t, append(base, "-n", "5")...); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	seen := map[int]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var c struct{ Index int }
		json.Unmarshal([]byte(line), &c)
		if seen[c.Index] {
			t.Errorf("index %d twice", c.Index)
		}
		seen[c.Index] = true
	}
	if len(seen) != 5 {
		t.Errorf("%d completions, want 5", len(seen))
	}
	var set map[string]string
	b, _ := os.ReadFile(out + ".settings.json")
	if err := json.Unmarshal(b, &set); err != nil || set["n"] != "5" || set["seed"] != "4" || !strings.Contains(set["model"], "stories260K.gguf (1185376 bytes") {
		t.Errorf("settings %v (%v)", set, err)
	}
	// A second writer is refused while the first holds the file.
	f, _ := os.OpenFile(out, os.O_WRONLY, 0)
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, append(base, "-n", "6")...)
	if err == nil || !strings.Contains(err.Error(), out+" is being written by another running command") {
		t.Errorf("second writer: %v", err)
	}
}

// TestTuneSignal: a cancelled tune (SIGINT or SIGTERM in main) saves a
// checkpoint, prints the summary with the step it stopped at and fails
// with the interruption; the same command with --resume finishes.
func TestTuneSignal(t *testing.T) {
	stories := filepath.Join(sharedModels, "stories260K.gguf")
	dir := t.TempDir()
	args := []string{"tune", stories, "--tasks", "coinflip", "--rows-per-task", "16", "--format", "colon", "--max-length", "64",
		"--grad-accum", "1", "--max-steps", "400", "--rank", "2", "--eval-tasks", "none", "--checkpoint-dir", dir, "-o", filepath.Join(dir, "a.gguf")}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	out, _, err := runCLIContext(t, ctx, args...)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted tune: %v", err)
	}
	var sum struct {
		Steps         int    `json:"steps"`
		Interrupted   bool   `json:"interrupted"`
		InterruptedAt int    `json:"interrupted_at_step"`
		Checkpoint    string `json:"checkpoint"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || !sum.Interrupted || sum.InterruptedAt < 1 || sum.InterruptedAt >= 400 || sum.Steps != sum.InterruptedAt {
		t.Fatalf("summary %s (%v)", out, err)
	}
	if _, err := os.Stat(sum.Checkpoint); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, append(args, "--resume", "--lr", "0.01")...); err == nil || !strings.Contains(err.Error(), `--lr: checkpoint "0.0001", this run "0.01"`) {
		t.Errorf("resume with another --lr: %v", err)
	}
}

// TestSignalsCancel: SIGTERM, like SIGINT, cancels the command's context
// instead of killing the process, and is reported for the exit code.
func TestSignalsCancel(t *testing.T) {
	ctx, caught := notifySignals()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	if caught() != syscall.SIGTERM || signalName(caught()) != "SIGTERM" {
		t.Errorf("caught %v", caught())
	}
}

// TestEvalStdout: "-" writes eval's results or per-row values to stdout.
func TestEvalStdout(t *testing.T) {
	stories := filepath.Join(sharedModels, "stories260K.gguf")
	args := []string{"eval", "steer", stories, "--tasks", "negative_binomial", "--n-rows", "2", "--k", "1", "-q"}
	out, _, err := runCLI(t, append(args, "--rows-out", "-")...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		var rec struct{ Task string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Task != "negative_binomial" {
			t.Fatalf("--rows-out - line %q: %v", l, err)
		}
	}
	if len(lines) != 2 {
		t.Errorf("%d row records, want 2", len(lines))
	}
	out, _, err = runCLI(t, append(args, "-o", "-")...)
	if err != nil || !json.Valid([]byte(out)) {
		t.Fatalf("-o -: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, append(args, "-o", "-", "--rows-out", "-")...); err == nil || !strings.Contains(err.Error(), "would both write to standard output") {
		t.Errorf("both to stdout: %v", err)
	}
}
