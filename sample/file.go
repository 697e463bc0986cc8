package sample

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/internal/record"
)

// File is a JSONL file of completions that a run appends to and a re-run
// resumes from: the completions already in it are not drawn again. Its
// settings (model, prompts, seed, sampling options: whatever decides the
// draws) are kept in a sidecar FILE.settings.json; a run with other
// settings is refused rather than mixed into the file. An exclusive lock
// (flock) keeps a second writer out while one runs.
type File struct {
	path string
	f    *os.File
	w    *bufio.Writer
	enc  *json.Encoder
	have map[[2]int]bool // (row, index)
}

// SettingsPath is the sidecar that holds a completions file's settings.
func SettingsPath(path string) string { return path + ".settings.json" }

// OpenFile opens (or creates) the completions file at path for a run with
// settings. It refuses: a path that is one of inputs; anything but a
// regular file (a device would be "resumed" from forever); a file being
// written by another run; a file whose sidecar records other settings (the
// differences are listed). A record cut off by a killed run is removed.
// Settings keys named in free may differ (e.g. "n": asking for more
// completions extends the file); the sidecar then keeps the newest values.
func OpenFile(path string, inputs []string, settings map[string]string, free ...string) (*File, error) {
	for _, in := range inputs {
		if outfile.SameFile(path, in) {
			return nil, fmt.Errorf("-o %s is also an input (%s); choose another file", path, in)
		}
	}
	side := SettingsPath(path)
	for _, in := range inputs {
		if outfile.SameFile(side, in) {
			return nil, fmt.Errorf("-o %s: its settings file %s is an input; choose another file", path, side)
		}
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("-o %s is not a regular file: -o appends completions and resumes from them; write to a file (or use --jsonl and redirect stdout)", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("-o %s: %w", path, err)
	}
	if err := outfile.Check(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o666)
	if err != nil {
		return nil, fmt.Errorf("-o %s: %w", path, err)
	}
	if err := outfile.Lock(f, path); err != nil {
		f.Close()
		return nil, err
	}
	sf := &File{path: path, f: f, have: map[[2]int]bool{}}
	fail := func(err error) (*File, error) { f.Close(); return nil, err }
	data, err := io.ReadAll(f)
	if err != nil {
		return fail(err)
	}
	keep := len(data)
	for off, line := 0, 1; off < len(data); line++ {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			// No newline: a record cut off mid-write; it is dropped.
			keep = off
			break
		}
		rec := bytes.TrimSpace(data[off : off+nl])
		if len(rec) > 0 {
			var c Completion
			if err := json.Unmarshal(rec, &c); err != nil {
				return fail(fmt.Errorf("%s:%d: not a completion record (%v); -o resumes only files this command wrote", path, line, err))
			}
			sf.have[[2]int{c.Row, c.Index}] = true
		}
		off += nl + 1
	}
	saved, err := readSettings(side)
	switch {
	case err != nil:
		return fail(err)
	case saved == nil && len(sf.have) > 0:
		return fail(fmt.Errorf("%s holds %d completions but no settings file %s, so it is unknown how they were drawn; choose another -o", path, len(sf.have), side))
	case saved != nil:
		if d := diffSettings(saved, settings, free); len(d) > 0 {
			return fail(fmt.Errorf("%s holds completions drawn with other settings; adding these would mix two runs:\n  %s\n(choose another -o, or repeat the original command to resume)", path, strings.Join(d, "\n  ")))
		}
	}
	if keep < len(data) {
		if err := f.Truncate(int64(keep)); err != nil {
			return fail(err)
		}
	}
	if err := outfile.Write(side, inputs, nil, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(settings)
	}); err != nil {
		return fail(err)
	}
	sf.w = bufio.NewWriter(f)
	sf.enc = json.NewEncoder(sf.w)
	sf.enc.SetEscapeHTML(false)
	return sf, nil
}

func readSettings(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: not a settings file of spectrum sample (%v)", path, err)
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}

func diffSettings(saved, now map[string]string, free []string) []string {
	return record.Diff(saved, now, "file", nil, func(k string) bool { return slices.Contains(free, k) })
}

// Has reports whether the completion (row, index) is in the file.
func (s *File) Has(row, index int) bool { return s.have[[2]int{row, index}] }

// Done counts the completions of row among indices 0…n-1 in the file.
func (s *File) Done(row, n int) int {
	k := 0
	for i := range n {
		if s.Has(row, i) {
			k++
		}
	}
	return k
}

// Add appends a completion and flushes it to the file, so a killed run
// keeps it.
func (s *File) Add(c Completion) error {
	if s.Has(c.Row, c.Index) {
		return nil
	}
	s.have[[2]int{c.Row, c.Index}] = true
	if err := s.enc.Encode(c); err != nil {
		return err
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	return nil
}

// Close flushes and closes the file (releasing the lock).
func (s *File) Close() error {
	if s == nil || s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	return err
}
