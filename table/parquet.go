package table

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// readParquet reads every row of a Parquet file (the layout Hugging Face
// datasets publish). Values become what pandas' to_pandas gives, in
// Python terms: integers, floats (NaN where a number is null), strings
// (None where null), bools, lists and structs (ordered objects).
func readParquet(t *Table, r io.ReaderAt, size int64) (err error) {
	defer func() {
		// parquet-go reports some corrupt pages by panicking; a user's bad
		// file must give an error, not a crash.
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: corrupt Parquet data: %v", t.Path, p)
		}
	}()
	pf, err := parquet.OpenFile(r, size)
	if err != nil {
		return fmt.Errorf("%s: not a readable Parquet file: %w", t.Path, err)
	}
	schema := pf.Schema()
	fields := schema.Fields()
	for _, f := range fields {
		t.Columns = append(t.Columns, f.Name())
	}
	n := pf.NumRows()
	if n == 0 {
		return fmt.Errorf("%s: no rows", t.Path)
	}
	rd := parquet.NewGenericReader[map[string]any](pf, schema)
	defer rd.Close()
	buf := make([]map[string]any, 256)
	for pos := 1; ; {
		for i := range buf {
			buf[i] = map[string]any{}
		}
		k, rerr := rd.Read(buf)
		for _, m := range buf[:k] {
			vals := make([]any, len(fields))
			for c, f := range fields {
				vals[c] = convertParquet(m[f.Name()], f)
			}
			t.Records = append(t.Records, Record{Pos: pos, Values: vals})
			pos++
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("%s row %d: %w", t.Path, pos, rerr)
		}
		if k == 0 {
			break
		}
	}
	if int64(len(t.Records)) != n {
		return fmt.Errorf("%s: read %d of %d rows", t.Path, len(t.Records), n)
	}
	return nil
}

func isNumericLeaf(n parquet.Node) bool {
	if !n.Leaf() {
		return false
	}
	switch n.Type().Kind() {
	case parquet.Int32, parquet.Int64, parquet.Float, parquet.Double:
		return true
	}
	return false
}

func isList(n parquet.Node) bool {
	if n.Leaf() {
		return false
	}
	lt := n.Type().LogicalType()
	if lt == nil {
		return false
	}
	_, ok := lt.Value.(*format.ListType)
	return ok
}

// listElement returns the element node of a LIST group (list.element, or
// the legacy layouts' single repeated child).
func listElement(n parquet.Node) parquet.Node {
	f := n.Fields()
	if len(f) != 1 {
		return n
	}
	rep := f[0]
	if rep.Leaf() || len(rep.Fields()) != 1 {
		return rep
	}
	return rep.Fields()[0]
}

func convertParquet(v any, n parquet.Node) any {
	if v == nil {
		if isNumericLeaf(n) {
			return math.NaN()
		}
		return nil
	}
	switch x := v.(type) {
	case []any:
		elem := n
		if isList(n) {
			elem = listElement(n)
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = convertParquet(e, elem)
		}
		return out
	case map[string]any:
		var obj Object
		if !n.Leaf() && !isList(n) {
			for _, f := range n.Fields() {
				if fv, ok := x[f.Name()]; ok {
					obj = append(obj, Field{f.Name(), convertParquet(fv, f)})
				}
			}
		}
		if len(obj) != len(x) { // a MAP, or keys the schema does not name
			obj = obj[:0]
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				obj = append(obj, Field{k, convertParquet(x[k], n)})
			}
		}
		return obj
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return float64(x)
		}
		return int64(x)
	case float32:
		return float64(x)
	case float64, bool, string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}
