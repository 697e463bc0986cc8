package table

import (
	"bytes"
	"compress/gzip"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCSVInference: column types as pandas.read_csv infers them.
func TestCSVInference(t *testing.T) {
	p := write(t, "d.csv", "id,score,ok,name,empty,mixed\n"+
		"1,2.5,True,ann,,7\n"+
		"2,,False,\"b, \"\"quoted\"\"\",,x\n"+
		"3,-1e3,true,NA,,8\n")
	tb, err := ReadFile(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tb.Columns, []string{"id", "score", "ok", "name", "empty", "mixed"}) {
		t.Fatalf("columns %q", tb.Columns)
	}
	col := func(name string) []any {
		var out []any
		for i := range tb.Records {
			out = append(out, tb.Get(&tb.Records[i], name))
		}
		return out
	}
	if got := col("id"); !reflect.DeepEqual(got, []any{int64(1), int64(2), int64(3)}) {
		t.Errorf("id %#v", got)
	}
	if got := col("score"); got[0] != 2.5 || !math.IsNaN(got[1].(float64)) || got[2] != -1000.0 {
		t.Errorf("score %#v", got)
	}
	if got := col("ok"); !reflect.DeepEqual(got, []any{true, false, true}) {
		t.Errorf("ok %#v", got)
	}
	if got := col("name"); got[0] != "ann" || got[1] != `b, "quoted"` || !math.IsNaN(got[2].(float64)) {
		t.Errorf("name %#v", got)
	}
	if got := col("mixed"); !reflect.DeepEqual(got, []any{"7", "x", "8"}) {
		t.Errorf("mixed %#v", got)
	}
	if got := col("empty"); !math.IsNaN(got[0].(float64)) {
		t.Errorf("empty %#v", got)
	}
	if w := tb.Where(&tb.Records[2]); w != p+":4" {
		t.Errorf("Where = %q", w)
	}
}

// TestJSONLOrderAndTypes: key order, ints vs floats, nested objects, and
// keys that appear late.
func TestJSONLOrderAndTypes(t *testing.T) {
	p := write(t, "d.jsonl", "{\"b\": 1, \"a\": 1.0, \"o\": {\"z\": [1, \"x\"], \"y\": null}}\n\n{\"a\": 2e0, \"c\": true}\n")
	tb, err := ReadFile(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tb.Columns, []string{"b", "a", "o", "c"}) {
		t.Fatalf("columns %q", tb.Columns)
	}
	r0, r1 := &tb.Records[0], &tb.Records[1]
	want0 := []any{int64(1), 1.0, Object{{"z", []any{int64(1), "x"}}, {"y", nil}}, nil}
	if !reflect.DeepEqual(r0.Values, want0) || r0.Pos != 1 {
		t.Errorf("record 0 = %#v", r0)
	}
	if !reflect.DeepEqual(r1.Values, []any{nil, 2.0, nil, true}) || r1.Pos != 3 {
		t.Errorf("record 1 = %#v", r1)
	}
}

func TestJSONArrays(t *testing.T) {
	for _, content := range []string{`[{"q": "a"}, {"q": "b"}]`, `{"version": 2, "data": [{"q": "a"}, {"q": "b"}]}`} {
		tb, err := ReadFile(write(t, "d.json", content), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(tb.Records) != 2 || tb.Get(&tb.Records[1], "q") != "b" || tb.Where(&tb.Records[1]) != tb.Path+" element 2" {
			t.Errorf("%s: %#v", content, tb.Records)
		}
	}
}

func TestGzipJSONL(t *testing.T) {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	gz.Write([]byte("{\"x\": \"é\"}\n"))
	gz.Close()
	tb, err := ReadFile(write(t, "d.jsonl.gz", b.String()), "")
	if err != nil {
		t.Fatal(err)
	}
	if tb.Format != JSONL || tb.Get(&tb.Records[0], "x") != "é" {
		t.Errorf("%#v", tb)
	}
}

// TestParquetNested reads the ARC fixture (pyarrow-written, Hugging Face's
// layout): strings, a struct of two string lists, in schema order.
func TestParquetNested(t *testing.T) {
	tb, err := ReadFile(filepath.Join("..", "suite", "importer", "testdata", "arc.parquet"), "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tb.Columns, []string{"id", "question", "choices", "answerKey"}) || len(tb.Records) != 3 {
		t.Fatalf("columns %q, %d records", tb.Columns, len(tb.Records))
	}
	r := &tb.Records[2]
	want := Object{{"text", []any{"a wax crayon", "a plastic spoon", "a rubber eraser", "an iron nail"}}, {"label", []any{"1", "2", "3", "4"}}}
	if got := tb.Get(r, "choices"); !reflect.DeepEqual(got, want) {
		t.Errorf("choices = %#v", got)
	}
	if tb.Get(r, "answerKey") != "4" || tb.Where(r) != tb.Path+" row 3" {
		t.Errorf("record 3 = %#v at %s", r.Values, tb.Where(r))
	}
	mm, err := ReadFile(filepath.Join("..", "suite", "importer", "testdata", "mmlu.parquet"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := mm.Get(&mm.Records[1], "answer"); got != int64(2) {
		t.Errorf("mmlu answer = %#v", got)
	}
	if got := mm.Get(&mm.Records[0], "choices"); !reflect.DeepEqual(got, []any{"0", "4", "2", "6"}) {
		t.Errorf("mmlu choices = %#v", got)
	}
}

// TestBadFiles: every bad file is an error naming the file and the place.
func TestBadFiles(t *testing.T) {
	arc, err := os.ReadFile(filepath.Join("..", "suite", "importer", "testdata", "arc.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, content string
		want          string
	}{
		{"a.jsonl", "{\"a\": 1}\n{\"a\": 2\n", "a.jsonl:2: bad JSON: truncated"},
		{"b.jsonl", "{\"a\": 1}\n[1, 2]\n", `b.jsonl:2: want a JSON object per line, got "[1, 2]"`},
		{"c.jsonl", "{\"a\": 1} x\n", "c.jsonl:1: bad JSON at byte"},
		{"d.jsonl", "\n\n", "d.jsonl: no records"},
		{"e.csv", "a,b\n1,2\n3\n", "e.csv:3: wrong number of fields"},
		{"f.csv", "a,b\n1,\"2\n", "f.csv:2:"},
		{"g.csv", "", "g.csv: empty file"},
		{"h.csv", "a,b\n", "h.csv: no records after the header"},
		{"i.json", `{"x": 1}`, "i.json: want a JSON array of objects"},
		{"j.json", `[1, 2]`, "j.json element 1: want an object, got a number"},
		{"k.txt", "x", "cannot tell the format"},
		{"l.parquet", "PAR1 this is not parquet", "l.parquet: not a readable Parquet file"},
		{"m.parquet", string(arc[:len(arc)/2]), "m.parquet: not a readable Parquet file"},
		{"n.jsonl.gz", "not gzip", "n.jsonl.gz: not gzip data"},
	}
	for _, c := range cases {
		_, err := ReadFile(write(t, c.name, c.content), "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.csv"), ""); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ParseFormat("xlsx"); err == nil {
		t.Error("ParseFormat(xlsx) accepted")
	}
}
