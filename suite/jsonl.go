package suite

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spectrumkit/spectrum/internal/outfile"
)

// LineError is an error in one line of a JSONL file. It prints as
// "FILE:LINE: MESSAGE", e.g.
// `rows.jsonl:7: unknown role "assistant" (want description, input or output)`.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// ReadRows reads JSONL rows from r; name (usually the file name) prefixes
// error messages. Blank lines are skipped; anything else that is not a valid
// row is an error naming the line: bad JSON, a message with an unknown role,
// empty messages, a description that is not first or not alone, a row without
// an output (unless it is a distributional prompt row with target_outputs).
// Nothing is skipped silently.
func ReadRows(r io.Reader, name string) ([]Row, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var rows []Row
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if lineNo == 1 {
				line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // UTF-8 BOM
			}
			if t := bytes.TrimSpace(line); len(t) > 0 {
				row, perr := parseRowLine(t)
				if perr != nil {
					return nil, &LineError{File: name, Line: lineNo, Err: perr}
				}
				rows = append(rows, row)
			}
		}
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
}

func parseRowLine(line []byte) (Row, error) {
	var row Row
	if line[0] != '{' {
		return row, fmt.Errorf("bad JSON: want an object per line, got %s", snippet(line))
	}
	if err := json.Unmarshal(line, &row); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return row, fmt.Errorf("bad JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			return row, fmt.Errorf("bad JSON: %v", te)
		}
		return row, err
	}
	if err := row.Validate(); err != nil {
		return row, err
	}
	return row, nil
}

func snippet(b []byte) string {
	s := string(b)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// ReadRowsFile reads the JSONL rows of a file; errors name path and line.
// A file with no rows is an error: every command that reads rows would
// otherwise do nothing and succeed.
func ReadRowsFile(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := ReadRows(f, path)
	if err == nil && len(rows) == 0 {
		return nil, fmt.Errorf("%s holds no rows (the file is empty or blank)", path)
	}
	return rows, err
}

// WriteRows writes rows as JSONL (one object per line, UTF-8, no HTML
// escaping). Every row is validated first; an invalid row is an error naming
// its index and nothing after it is written.
func WriteRows(w io.Writer, rows []Row) error {
	bw := bufio.NewWriter(w)
	for i := range rows {
		if err := rows[i].Validate(); err != nil {
			return fmt.Errorf("row %d (task %q): %w", i+1, rows[i].Task, err)
		}
		b, err := rows[i].MarshalJSON()
		if err != nil {
			return fmt.Errorf("row %d (task %q): %w", i+1, rows[i].Task, err)
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// WriteRowsFile writes rows to path atomically (see WriteFileAtomic).
func WriteRowsFile(path string, rows []Row, inputs ...string) error {
	return WriteFileAtomic(path, inputs, func(w io.Writer) error { return WriteRows(w, rows) })
}

// WriteFileAtomic writes a file with the toolkit's output discipline
// (internal/outfile): a regular or new file through a temporary file beside
// it, synced and renamed only after write succeeded, so readers never see a
// partial file and a failed write leaves any old file untouched; a device or
// FIFO is written in place, never replaced. It refuses to write over any of
// inputs (the files the output was computed from), compared by identity
// where they exist and by cleaned absolute path otherwise.
func WriteFileAtomic(path string, inputs []string, write func(w io.Writer) error) error {
	if path == "" || path == "-" {
		return fmt.Errorf("no output path")
	}
	return outfile.Write(path, inputs, nil, write)
}
