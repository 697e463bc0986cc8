package outfile

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func write(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func TestWriteReplacesRegularFileAtomically(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.json")
	os.WriteFile(p, []byte("old"), 0o600)
	if err := Write(p, nil, nil, write("new")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "new" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("got %q mode %v, want \"new\" with the old file's mode 0600", b, fi.Mode().Perm())
	}
	// A failing writer leaves the old file and no temporary file.
	err := Write(p, nil, nil, func(w io.Writer) error { io.WriteString(w, "half"); return errors.New("boom") })
	if err == nil || err.Error() != "boom" {
		t.Fatalf("err = %v, want boom", err)
	}
	b, _ = os.ReadFile(p)
	ents, _ := os.ReadDir(dir)
	if string(b) != "new" || len(ents) != 1 {
		t.Fatalf("after a failed write: %q and %d entries, want \"new\" and 1", b, len(ents))
	}
}

func TestNewFileFollowsUmask(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	saved := umask
	umask = 0o027
	defer func() { umask = saved }()
	p := filepath.Join(t.TempDir(), "sub", "dir", "new.jsonl") // missing folders are made
	if err := Write(p, nil, nil, write("x")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v (%v), want 0640 (0666 less umask 027)", fi.Mode().Perm(), err)
	}
}

func TestDevicesAreWrittenNotReplaced(t *testing.T) {
	if err := Write("/dev/null", nil, nil, write("x")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat("/dev/null")
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a character device: %v %v", fi.Mode(), err)
	}
	if _, err := os.Stat("/dev/full"); err == nil {
		err := Write("/dev/full", nil, nil, write("x"))
		if err == nil || !strings.Contains(err.Error(), "writing /dev/full: no space left on device") {
			t.Fatalf("err = %v, want the device's ENOSPC naming /dev/full", err)
		}
		fi, _ := os.Stat("/dev/full")
		if fi.Mode()&os.ModeCharDevice == 0 {
			t.Fatal("/dev/full was replaced")
		}
	}
	// A FIFO is written in place.
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	got := make(chan string)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- string(b)
	}()
	if err := Write(fifo, nil, nil, write("through the pipe")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "through the pipe" {
		t.Fatalf("FIFO reader got %q", s)
	}
	if fi, _ := os.Stat(fifo); fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatal("the FIFO was replaced")
	}
}

func TestCheckRefusals(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "rows.jsonl")
	os.WriteFile(in, []byte("{}\n"), 0o644)
	link := filepath.Join(dir, "link.jsonl")
	os.Symlink(in, link)
	hard := filepath.Join(dir, "hard.jsonl")
	os.Link(in, hard)
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	for _, tc := range []struct {
		out, want string
	}{
		{in, "output " + in + " is also an input (" + in + "); choose another path"},
		{link, "output " + link + " is also an input (" + in + "); choose another path"},
		{hard, "output " + hard + " is also an input (" + in + "); choose another path"},
		{filepath.Join(dir, ".", "rows.jsonl"), "is also an input"},
		{dir, "output " + dir + " is a directory; give a file path"},
		{filepath.Join(notDir, "x.json"), "output " + filepath.Join(notDir, "x.json") + ": not a directory"},
		{"", "no output path"},
	} {
		err := Check(tc.out, in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%q) = %v, want %q", tc.out, err, tc.want)
		}
		if tc.out != "" {
			if err := Write(tc.out, []string{in}, nil, write("x")); err == nil {
				t.Errorf("Write(%q) succeeded", tc.out)
			}
		}
	}
	b, _ := os.ReadFile(in)
	if string(b) != "{}\n" {
		t.Fatalf("the input changed: %q", b)
	}
	if err := Check("-", in); err != nil {
		t.Fatal(err)
	}
	if err := CheckOutputs([]string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "a")}, nil); err == nil ||
		!strings.Contains(err.Error(), "two outputs are the same file") {
		t.Fatalf("colliding outputs: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), tempMark) {
			t.Fatalf("probe left behind: %s", e.Name())
		}
	}
}

func TestStaleTempsOfDeadProcessesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	// A PID that surely ran and ended: a finished child's.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	dead := cmd.Process.Pid
	stale := filepath.Join(dir, ".model.gguf"+tempMark+strconv.Itoa(dead)+"-123")
	mine := filepath.Join(dir, ".model.gguf"+tempMark+strconv.Itoa(os.Getpid())+"-456")
	other := filepath.Join(dir, ".notes.tmp-1")
	for _, p := range []string{stale, mine, other} {
		os.WriteFile(p, []byte("x"), 0o644)
	}
	var said []string
	Logf = func(f string, a ...any) { said = append(said, f) }
	defer func() { Logf = nil }()
	if err := Write(filepath.Join(dir, "model.gguf"), nil, nil, write("m")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("a dead process's temporary file was kept")
	}
	for _, p := range []string{mine, other} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s was removed: %v", p, err)
		}
	}
	if len(said) != 1 {
		t.Fatalf("notes: %v, want one", said)
	}
}

func TestRemoveTempsAndAbort(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(filepath.Join(dir, "a.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	name, _, err := Temp(filepath.Join(dir, "b.gguf"), ".f32")
	if err != nil {
		t.Fatal(err)
	}
	RemoveTemps()
	for _, p := range []string{f.Name(), name} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s survived RemoveTemps", p)
		}
	}
	f.Abort()
	f.Abort() // idempotent
}

func TestLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.jsonl")
	a, _ := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	b, _ := os.OpenFile(p, os.O_WRONLY, 0o644)
	defer b.Close()
	if err := Lock(a, p); err != nil {
		t.Fatal(err)
	}
	err := Lock(b, p)
	if err == nil || err.Error() != p+" is being written by another running command; wait for it or choose another file" {
		t.Fatalf("second lock: %v", err)
	}
	a.Close()
	if err := Lock(b, p); err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
}
