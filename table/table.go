// Package table reads tabular data files (JSONL, JSON, CSV/TSV, Parquet) into
// records of typed values, as pandas would load them, so that rows built from
// them format values the way the reference's Python code does.
//
// Values are string, int64, float64 (NaN for a missing number), bool, nil
// (a missing string: Python's None), []any and Object (an ordered mapping).
// Every record remembers where it came from, so later errors can name the
// file and line (or row) and the column.
package table

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Format is a file format.
type Format string

const (
	JSONL   Format = "jsonl"
	JSON    Format = "json"
	CSV     Format = "csv"
	TSV     Format = "tsv"
	Parquet Format = "parquet"
)

// Formats lists the formats Read understands.
var Formats = []Format{JSONL, JSON, CSV, TSV, Parquet}

// Field is one key/value pair of an Object.
type Field struct {
	Key   string
	Value any
}

// Object is a JSON object or Parquet group with its keys in file order.
type Object []Field

// Get returns the value of key and whether it is present.
func (o Object) Get(key string) (any, bool) {
	for _, f := range o {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// Table is the content of one file.
type Table struct {
	// Path is the file the table was read from.
	Path   string
	Format Format
	// Columns are the column names in file order (for JSONL/JSON: in order of
	// first appearance).
	Columns []string
	Records []Record
	index   map[string]int
}

// Record is one line or row.
type Record struct {
	// Pos is the 1-based line (JSONL, CSV/TSV: the line the record starts on)
	// or row/element number (Parquet, JSON arrays).
	Pos int
	// Values hold one value per column; a JSON record without a key has nil.
	Values []any
}

// Col returns the index of a column, or -1.
func (t *Table) Col(name string) int {
	if t.index == nil {
		t.index = make(map[string]int, len(t.Columns))
		for i, c := range t.Columns {
			t.index[c] = i
		}
	}
	if i, ok := t.index[name]; ok {
		return i
	}
	return -1
}

// Where names a record's position for error messages: "data.csv:17" for
// line-based formats, "data.parquet row 17" or "data.json element 17".
func (t *Table) Where(r *Record) string {
	switch t.Format {
	case Parquet:
		return fmt.Sprintf("%s row %d", t.Path, r.Pos)
	case JSON:
		return fmt.Sprintf("%s element %d", t.Path, r.Pos)
	}
	return fmt.Sprintf("%s:%d", t.Path, r.Pos)
}

// AddColumn appends a column holding the values of fn for every record.
// It is how recipes derive fields (a prompt built from several columns).
func (t *Table) AddColumn(name string, fn func(r *Record) (any, error)) error {
	if t.Col(name) >= 0 {
		return fmt.Errorf("%s: column %q exists already", t.Path, name)
	}
	vals := make([]any, len(t.Records))
	for i := range t.Records {
		v, err := fn(&t.Records[i])
		if err != nil {
			return fmt.Errorf("%s: %w", t.Where(&t.Records[i]), err)
		}
		vals[i] = v
	}
	t.Columns = append(t.Columns, name)
	t.index[name] = len(t.Columns) - 1
	for i := range t.Records {
		t.Records[i].Values = append(t.Records[i].Values, vals[i])
	}
	return nil
}

// Get returns the value of column name in r (nil if the table lacks it).
func (t *Table) Get(r *Record, name string) any {
	if i := t.Col(name); i >= 0 && i < len(r.Values) {
		return r.Values[i]
	}
	return nil
}

// DetectFormat tells the format from a file name: .jsonl/.ndjson, .json,
// .csv, .tsv/.tab, .parquet, each optionally followed by .gz (not for
// Parquet, which compresses inside).
func DetectFormat(path string) (Format, error) {
	name := strings.ToLower(filepath.Base(path))
	name = strings.TrimSuffix(name, ".gz")
	switch filepath.Ext(name) {
	case ".jsonl", ".ndjson":
		return JSONL, nil
	case ".json":
		return JSON, nil
	case ".csv":
		return CSV, nil
	case ".tsv", ".tab":
		return TSV, nil
	case ".parquet", ".pq":
		return Parquet, nil
	}
	return "", fmt.Errorf("%s: cannot tell the format from the file name (want .jsonl, .json, .csv, .tsv or .parquet, optionally .gz; or name it with --format)", path)
}

// ParseFormat checks a format name given by a user.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == strings.ToLower(s) {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown format %q (want jsonl, json, csv, tsv or parquet)", s)
}

// ReadFile reads a file; format "" detects it from the name.
func ReadFile(path string, format Format) (*Table, error) {
	if format == "" {
		var err error
		if format, err = DetectFormat(path); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a data file", path)
	}
	t := &Table{Path: path, Format: format}
	if format == Parquet {
		if err := readParquet(t, f, st.Size()); err != nil {
			return nil, err
		}
		return t, nil
	}
	var r io.Reader = f
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: not gzip data: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	switch format {
	case JSONL:
		err = readJSONL(t, r)
	case JSON:
		err = readJSON(t, r)
	case CSV:
		err = readCSV(t, r, ',')
	case TSV:
		err = readCSV(t, r, '\t')
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Kind names the type of a value for error messages ("string", "number",
// "bool", "list", "object", "null").
func Kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case int64, float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "list"
	case Object:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
