// Package outfile is the one output discipline of the toolkit: every file a
// command writes goes through it, so that nothing a user had is lost.
//
//   - A regular file, or a path that does not exist yet, is written to a
//     temporary file beside it that is synced and renamed over the target
//     only when complete: readers never see half a file, and a failed or
//     interrupted write leaves the old file as it was.
//   - Anything else that stands at the path (a character device such as
//     /dev/null, a FIFO) is opened and written directly, never replaced; a
//     socket or a directory is refused.
//   - An output may not be one of the command's inputs, compared by device
//     and inode (so through symlinks and hard links) and by cleaned absolute
//     path, and a command's outputs may not collide with each other.
//   - Check does all of that before any long work, and also proves the
//     folder writable by creating (and removing) a probe file in it, so a
//     run never ends in "permission denied" after hours of work.
//   - A new file gets mode 0666 less the umask; a replaced file keeps its
//     mode.
//   - Temporary files are named .NAME.spectrum-tmp-PID-RANDOM, removed on
//     every error path (Abort) and by RemoveTemps (signal handlers). Those
//     left by a killed process (its PID no longer runs) are removed the next
//     time an output is made in that folder.
//
// The functions are safe for concurrent use.
package outfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// tempMark is in the name of every temporary file this package makes.
const tempMark = ".spectrum-tmp-"

// Logf, when set, receives notes such as the removal of stale temporary
// files.
var Logf func(format string, args ...any)

func logf(format string, args ...any) {
	if Logf != nil {
		Logf(format, args...)
	}
}

var umask = func() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}()

// live is the set of temporary files this process has made and not yet
// renamed or removed.
var live = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

func track(name string) {
	live.Lock()
	live.m[name] = true
	live.Unlock()
}

func untrack(name string) {
	live.Lock()
	delete(live.m, name)
	live.Unlock()
}

// RemoveTemps removes every temporary file this process still holds. A
// signal handler calls it before exiting.
func RemoveTemps() {
	live.Lock()
	defer live.Unlock()
	for name := range live.m {
		os.Remove(name)
		delete(live.m, name)
	}
}

// IsStdout reports whether path means standard output.
func IsStdout(path string) bool { return path == "-" }

// kind is what stands at an output path.
type kind int

const (
	kindNew     kind = iota // nothing there yet
	kindRegular             // a regular file: replaced atomically
	kindDirect              // a device or FIFO: written in place
)

// inspect says what is at path and refuses what cannot be an output.
func inspect(path string) (kind, os.FileInfo, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return kindNew, nil, nil
	case err != nil:
		return 0, nil, fmt.Errorf("output %s: %w", path, unwrapPath(err))
	case fi.IsDir():
		return 0, nil, fmt.Errorf("output %s is a directory; give a file path", path)
	case fi.Mode()&fs.ModeSocket != 0:
		return 0, nil, fmt.Errorf("output %s is a socket; give a file path", path)
	case fi.Mode().IsRegular():
		return kindRegular, fi, nil
	default: // character or block device, FIFO
		return kindDirect, fi, nil
	}
}

// unwrapPath drops the *PathError wrapper (whose path may be a temporary
// file's) so that messages name the path the user gave.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// SameFile reports whether a and b name the same file: the same cleaned
// absolute path, or, when both exist, the same device and inode.
func SameFile(a, b string) bool {
	if a == "" || b == "" || IsStdout(a) || IsStdout(b) {
		return false
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == bb {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// Check verifies, before any work, that path can be written as an output
// that is none of inputs: it is not a directory or socket, its folder exists
// (missing folders are created) and is writable, and it is not an input.
// "-" (standard output) always passes.
func Check(path string, inputs ...string) error {
	if path == "" {
		return errors.New("no output path")
	}
	if IsStdout(path) {
		return nil
	}
	for _, in := range inputs {
		if SameFile(path, in) {
			return fmt.Errorf("output %s is also an input (%s); choose another path", path, in)
		}
	}
	k, _, err := inspect(path)
	if err != nil {
		return err
	}
	if k == kindDirect {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("output %s: %w", path, unwrapPath(err))
		}
		return f.Close()
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("output %s: cannot create its folder: %w", path, unwrapPath(err))
	}
	probe, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempMark+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return fmt.Errorf("output %s: its folder is not writable: %w", path, unwrapPath(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// CheckOutputs checks every output with Check and that no two outputs are
// the same file. Empty entries are skipped.
func CheckOutputs(outputs, inputs []string) error {
	var seen []string
	for _, o := range outputs {
		if o == "" {
			continue
		}
		for _, s := range seen {
			if !IsStdout(o) && SameFile(o, s) {
				return fmt.Errorf("two outputs are the same file: %s and %s", s, o)
			}
		}
		if err := Check(o, inputs...); err != nil {
			return err
		}
		seen = append(seen, o)
	}
	return nil
}

// File is an output being written: a temporary file beside the target
// (renamed over it by Commit) or, for a device or FIFO, the target itself.
type File struct {
	path   string // the user's path
	name   string // where the bytes go
	f      *os.File
	direct bool
	mode   os.FileMode
	done   bool
}

// Create opens path for writing under the rules of the package comment.
// It refuses an output that is one of inputs. The caller must Commit or
// Abort the File.
func Create(path string, inputs ...string) (*File, error) {
	if path == "" || IsStdout(path) {
		return nil, errors.New("outfile: Create needs a file path (standard output is the caller's)")
	}
	for _, in := range inputs {
		if SameFile(path, in) {
			return nil, fmt.Errorf("output %s is also an input (%s); choose another path", path, in)
		}
	}
	k, fi, err := inspect(path)
	if err != nil {
		return nil, err
	}
	if k == kindDirect {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", path, unwrapPath(err))
		}
		return &File{path: path, name: path, f: f, direct: true}, nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("output %s: cannot create its folder: %w", path, unwrapPath(err))
	}
	cleanStale(dir)
	mode := 0o666 &^ umask
	if k == kindRegular {
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempMark+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", path, unwrapPath(err))
	}
	track(f.Name())
	return &File{path: path, name: f.Name(), f: f, mode: mode}, nil
}

// Name is where the bytes go: the temporary file, or the device itself.
// Tools that write by name (llama.cpp's quantizer) write there.
func (f *File) Name() string { return f.name }

// Path is the path the caller asked for.
func (f *File) Path() string { return f.path }

// Direct reports whether the output is a device or FIFO written in place.
func (f *File) Direct() bool { return f.direct }

// Write writes to the output.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.f.Write(p)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", f.path, unwrapPath(err))
	}
	return n, err
}

// Commit makes the output visible: for a temporary file it syncs, sets the
// mode and renames it over the target. After a failed Commit the temporary
// file is gone and the target unchanged.
func (f *File) Commit() (err error) {
	if f.done {
		return errors.New("outfile: Commit after Commit or Abort")
	}
	f.done = true
	if f.direct {
		if err := f.f.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, unwrapPath(err))
		}
		return nil
	}
	defer func() {
		if err != nil {
			f.f.Close()
			os.Remove(f.name)
			untrack(f.name)
			err = fmt.Errorf("writing %s: %w", f.path, unwrapPath(err))
		}
	}()
	if err = f.f.Sync(); err != nil {
		return err
	}
	if err = f.f.Chmod(f.mode); err != nil {
		return err
	}
	if err = f.f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.name, f.path); err != nil {
		return err
	}
	untrack(f.name)
	return nil
}

// Abort discards the output: the temporary file is removed (a device is
// only closed). It is safe to call after Commit, where it does nothing, so
// callers can defer it.
func (f *File) Abort() {
	if f == nil || f.done {
		return
	}
	f.done = true
	f.f.Close()
	if !f.direct {
		os.Remove(f.name)
		untrack(f.name)
	}
}

// Write writes path with write under the rules of the package comment;
// "-" writes to stdout instead (stdout may be nil for os.Stdout).
func Write(path string, inputs []string, stdout io.Writer, write func(w io.Writer) error) error {
	if IsStdout(path) {
		if stdout == nil {
			stdout = os.Stdout
		}
		bw := bufio.NewWriterSize(stdout, 1<<16)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	f, err := Create(path, inputs...)
	if err != nil {
		return err
	}
	defer f.Abort()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Commit()
}

// Temp makes an empty temporary file beside near for intermediate results
// (a float32 model before quantization). It is tracked like an output's
// temporary file; the returned function removes it.
func Temp(near, suffix string) (string, func(), error) {
	dir := filepath.Dir(near)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", nil, fmt.Errorf("output %s: cannot create its folder: %w", near, unwrapPath(err))
	}
	cleanStale(dir)
	f, err := os.CreateTemp(dir, "."+filepath.Base(near)+tempMark+strconv.Itoa(os.Getpid())+"-*"+suffix)
	if err != nil {
		return "", nil, fmt.Errorf("output %s: %w", near, unwrapPath(err))
	}
	f.Close()
	name := f.Name()
	track(name)
	return name, func() { os.Remove(name); untrack(name) }, nil
}

// cleanStale removes the temporary files in dir left by processes that no
// longer run (a kill -9, a power cut), and says so.
func cleanStale(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, ok := tempPID(e.Name())
		if !ok || pid == os.Getpid() || processRuns(pid) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err == nil {
			logf("removed %s, a temporary file left by an interrupted run (pid %d)", p, pid)
		}
	}
}

// tempPID returns the PID in a temporary file's name.
func tempPID(name string) (int, bool) {
	i := strings.LastIndex(name, tempMark)
	if i < 0 || !strings.HasPrefix(name, ".") {
		return 0, false
	}
	rest := name[i+len(tempMark):]
	j := strings.IndexByte(rest, '-')
	if j <= 0 {
		return 0, false
	}
	pid, err := strconv.Atoi(rest[:j])
	return pid, err == nil && pid > 0
}

// Lock takes an exclusive lock on f (flock), without waiting: a second
// writer of the same file gets an error naming path instead of interleaving
// its records. The lock ends when f is closed.
func Lock(f *os.File, path string) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("%s is being written by another running command; wait for it or choose another file", path)
	}
	if err != nil {
		return fmt.Errorf("locking %s: %w", path, err)
	}
	return nil
}

func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
