package table

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// readJSONL reads one JSON object per line; blank lines are skipped.
func readJSONL(t *Table, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<16)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if tb := bytes.TrimSpace(b); len(tb) > 0 {
			obj, perr := decodeObject(tb)
			if perr != nil {
				return fmt.Errorf("%s:%d: %w", t.Path, line, perr)
			}
			t.addObject(line, obj)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", t.Path, err)
		}
	}
	if len(t.Records) == 0 {
		return fmt.Errorf("%s: no records (empty file)", t.Path)
	}
	t.pad()
	return nil
}

// readJSON reads a JSON array of objects, or an object whose only
// array-valued key holds them (as in {"data": [...]}, the layout of many
// published data sets).
func readJSON(t *Table, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%s: %w", t.Path, err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	v, err := decodeValue(data)
	if err != nil {
		return fmt.Errorf("%s: %w", t.Path, err)
	}
	list, ok := v.([]any)
	if obj, isObj := v.(Object); isObj {
		var found []string
		for _, f := range obj {
			if l, isList := f.Value.([]any); isList {
				list, ok = l, true
				found = append(found, f.Key)
			}
		}
		if len(found) != 1 {
			return fmt.Errorf("%s: want a JSON array of objects, or an object with exactly one array of them (found arrays under %q)", t.Path, found)
		}
	}
	if !ok {
		return fmt.Errorf("%s: want a JSON array of objects, got a %s", t.Path, Kind(v))
	}
	if len(list) == 0 {
		return fmt.Errorf("%s: no records (empty array)", t.Path)
	}
	for i, e := range list {
		obj, isObj := e.(Object)
		if !isObj {
			return fmt.Errorf("%s element %d: want an object, got a %s", t.Path, i+1, Kind(e))
		}
		t.addObject(i+1, obj)
	}
	t.pad()
	return nil
}

// pad gives every record one value per column: a record read before a key
// first appeared lacks it (nil, Python's None).
func (t *Table) pad() {
	for i := range t.Records {
		for len(t.Records[i].Values) < len(t.Columns) {
			t.Records[i].Values = append(t.Records[i].Values, nil)
		}
	}
}

func (t *Table) addObject(pos int, obj Object) {
	if t.index == nil {
		t.index = map[string]int{}
	}
	vals := make([]any, len(t.Columns), len(t.Columns)+len(obj))
	for _, f := range obj {
		i, ok := t.index[f.Key]
		if !ok {
			i = len(t.Columns)
			t.Columns = append(t.Columns, f.Key)
			t.index[f.Key] = i
		}
		for len(vals) <= i {
			vals = append(vals, nil)
		}
		vals[i] = f.Value
	}
	t.Records = append(t.Records, Record{Pos: pos, Values: vals})
}

func decodeObject(b []byte) (Object, error) {
	if b[0] != '{' {
		s := string(b)
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return nil, fmt.Errorf("want a JSON object per line, got %q", s)
	}
	v, err := decodeValue(b)
	if err != nil {
		return nil, err
	}
	return v.(Object), nil
}

// decodeValue decodes JSON keeping object key order; integral numbers
// become int64 (float64 when out of range), others float64.
func decodeValue(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeNext(dec)
	if err != nil {
		return nil, jsonErr(err, dec)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("bad JSON at byte %d: data after the value", dec.InputOffset())
	}
	return v, nil
}

func jsonErr(err error, dec *json.Decoder) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("bad JSON at byte %d: %v", se.Offset, se)
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("bad JSON: truncated at byte %d", dec.InputOffset())
	}
	return fmt.Errorf("bad JSON: %v", err)
}

func decodeNext(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := tok.(type) {
	case json.Delim:
		switch x {
		case '{':
			obj := Object{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key is not a string")
				}
				v, err := decodeNext(dec)
				if err != nil {
					return nil, err
				}
				obj = append(obj, Field{key, v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return obj, nil
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeNext(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return list, nil
		}
		return nil, fmt.Errorf("unexpected %v", x)
	case json.Number:
		return parseNumber(string(x)), nil
	case string, bool, nil:
		return x, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// parseNumber is how Python's json module reads a number: an integer
// literal is an int, anything with a fraction or exponent a float.
func parseNumber(s string) any {
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}
