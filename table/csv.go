package table

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// naValues are the cells pandas.read_csv reads as missing by default.
var naValues = map[string]bool{
	"": true, "#N/A": true, "#N/A N/A": true, "#NA": true, "-1.#IND": true, "-1.#QNAN": true,
	"-NaN": true, "-nan": true, "1.#IND": true, "1.#QNAN": true, "<NA>": true, "N/A": true,
	"NA": true, "NULL": true, "NaN": true, "None": true, "n/a": true, "nan": true, "null": true,
}

var boolValues = map[string]bool{"True": true, "TRUE": true, "true": true, "False": false, "FALSE": false, "false": false}

// readCSV reads a delimited file with a header line and infers each
// column's type as pandas.read_csv does by default: all integers → int64
// (float64 when a cell is missing), all numbers → float64, all
// True/False → bool, otherwise strings; missing cells (pandas' default NA
// strings, e.g. "" and "NA") are NaN. Duplicate column names get pandas'
// ".1", ".2" suffixes.
func readCSV(t *Table, r io.Reader, delim rune) error {
	cr := csv.NewReader(r)
	cr.Comma = delim
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("%s: empty file (want a header line)", t.Path)
	}
	if err != nil {
		return csvErr(t.Path, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	seen := map[string]int{}
	for _, h := range header {
		name := h
		if n := seen[h]; n > 0 {
			name = fmt.Sprintf("%s.%d", h, n)
		}
		seen[h]++
		t.Columns = append(t.Columns, name)
	}
	var cells [][]string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return csvErr(t.Path, err)
		}
		line, _ := cr.FieldPos(0)
		cells = append(cells, rec)
		t.Records = append(t.Records, Record{Pos: line, Values: make([]any, len(t.Columns))})
	}
	if len(t.Records) == 0 {
		return fmt.Errorf("%s: no records after the header line", t.Path)
	}
	for c := range t.Columns {
		col := make([]string, len(cells))
		for i := range cells {
			col[i] = cells[i][c]
		}
		for i, v := range inferColumn(col) {
			t.Records[i].Values[c] = v
		}
	}
	return nil
}

func csvErr(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return fmt.Errorf("%s:%d: wrong number of fields (the header has a different number)", path, pe.Line)
		}
		return fmt.Errorf("%s:%d:%d: %v", path, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

func parseInt(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64)
	return n, err == nil && !strings.HasPrefix(s, "+-")
}

func parseFloat(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(strings.TrimLeft(s, "+-")) {
	case "inf", "infinity":
		if strings.HasPrefix(s, "-") {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	}
	if strings.ContainsAny(s, "_xXpP") { // Go syntax pandas does not accept
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

func inferColumn(col []string) []any {
	out := make([]any, len(col))
	missing, ints, floats, bools := 0, true, true, true
	for _, s := range col {
		if naValues[s] {
			missing++
			continue
		}
		if ints {
			_, ints = parseInt(s)
		}
		if floats {
			_, floats = parseFloat(s)
		}
		if bools {
			_, bools = boolValues[s]
		}
	}
	nan := math.NaN()
	for i, s := range col {
		switch {
		case naValues[s]:
			out[i] = nan
		case ints && missing == 0:
			out[i], _ = parseInt(s)
		case ints || floats:
			f, _ := parseFloat(s)
			out[i] = f
		case bools:
			out[i] = boolValues[s]
		default:
			out[i] = s
		}
	}
	return out
}
