package suite

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestJSONLRoundTrip(t *testing.T) {
	var rows []Row
	for _, name := range []string{"coinflip", "cards", "flight", "urn", "states", "us_phone_numbers"} {
		task, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := task.Generate(3, 3)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, rs...)
	}
	// a row with characters JSON writers like to escape
	rows = append(rows, Row{Task: "custom", Messages: []Message{
		{RoleDescription, "<b> & \"q\" \\ \u2028\u2029 é 😀 \x01\x1f\x7f\b\f\r\t"}, {RoleInput, "x\ny"}, {RoleOutput, ""},
	}, N: 1, IncludeDescription: true})
	var buf bytes.Buffer
	if err := WriteRows(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != len(rows) {
		t.Fatalf("wrote %d lines for %d rows", n, len(rows))
	}
	if !strings.Contains(buf.String(), "<b> & ") || !strings.Contains(buf.String(), "♣") {
		t.Errorf("output escapes HTML or non-ASCII characters needlessly")
	}
	got, err := ReadRows(&buf, "rt.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rows) {
		for i := range rows {
			if !reflect.DeepEqual(got[i], rows[i]) {
				t.Fatalf("row %d differs after round trip:\n got %+v\nwant %+v", i, got[i], rows[i])
			}
		}
		t.Fatalf("rows differ after round trip")
	}
}

func TestReadRowsErrors(t *testing.T) {
	good := `{"task": "t", "messages": [{"role": "output", "content": "a"}]}`
	tests := []struct {
		name string
		line string
		want string
	}{
		{"bad JSON", `{"task": "t", "messages": [`, "bad JSON"},
		{"not an object", `["a"]`, "want an object per line"},
		{"unknown role", `{"messages": [{"role": "assistant", "content": "x"}]}`,
			`unknown role "assistant" (want description, input or output)`},
		{"missing role", `{"messages": [{"content": "x"}]}`, `unknown role ""`},
		{"empty messages", `{"task": "t", "messages": []}`, "empty messages"},
		{"no messages", `{"task": "t"}`, `no "messages" field`},
		{"description not first", `{"messages": [{"role": "output", "content": "a"}, {"role": "description", "content": "d"}]}`,
			"description must be the first message (found at message 2)"},
		{"two descriptions", `{"messages": [{"role": "description", "content": "d"}, {"role": "output", "content": "a"}, {"role": "description", "content": "e"}]}`,
			"more than one description (messages 1 and 3)"},
		{"no output", `{"messages": [{"role": "description", "content": "d"}, {"role": "input", "content": "i"}]}`, "no output message"},
		{"content not a string", `{"messages": [{"role": "output", "content": 3}]}`, "messages[0].content: want a string"},
		{"null content", `{"messages": [{"role": "output", "content": null}]}`, "messages[0].content: want a string"},
		{"bad seed", `{"seed": "x", "messages": [{"role": "output", "content": "a"}]}`, "seed: want an integer"},
		{"probs do not sum to 1", `{"messages": [{"role": "input", "content": "i"}], "target_outputs": ["a", "b"], "target_probs": [0.5, 0.6]}`,
			"target_probs sum to"},
		{"probs length", `{"messages": [{"role": "input", "content": "i"}], "target_outputs": ["a", "b"], "target_probs": [1]}`,
			"2 target_outputs but 1 target_probs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// the bad line is line 7: five good rows and a blank line before it
			in := strings.Repeat(good+"\n", 3) + "\n" + good + "\n" + good + "\n" + tt.line + "\n" + good + "\n"
			_, err := ReadRows(strings.NewReader(in), "rows.jsonl")
			if err == nil {
				t.Fatalf("no error for %s", tt.line)
			}
			var le *LineError
			if !errors.As(err, &le) || le.Line != 7 || le.File != "rows.jsonl" {
				t.Fatalf("error %q does not name rows.jsonl line 7", err)
			}
			if !strings.HasPrefix(err.Error(), "rows.jsonl:7: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want rows.jsonl:7: …%s…", err, tt.want)
			}
		})
	}
	// the exact message of the issue
	_, err := ReadRows(strings.NewReader(strings.Repeat(good+"\n", 6)+`{"task": "t", "messages": [{"role": "assistant", "content": "x"}]}`), "rows.jsonl")
	if want := `rows.jsonl:7: unknown role "assistant" (want description, input or output)`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestReadRowsBlankLinesAndCRLF(t *testing.T) {
	in := "\n\r\n" + `{"task": "a", "messages": [{"role": "output", "content": "x"}]}` + "\r\n   \n" +
		`{"task": "b", "messages": [{"role": "output", "content": "y"}]}` // no final newline
	rows, err := ReadRows(strings.NewReader(in), "x.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Task != "a" || rows[1].Task != "b" || rows[1].Messages[0].Content != "y" {
		t.Fatalf("got %+v", rows)
	}
	if rows, err := ReadRows(strings.NewReader(""), "empty.jsonl"); err != nil || len(rows) != 0 {
		t.Fatalf("empty input: %v, %v", rows, err)
	}
}

// A row as the reference writes it (pandas records of ICLClass.generate_many:
// no "task" key, messages carry "example_ind", numpy scalars as JSON numbers,
// Python's json.dumps ASCII escapes).
func TestImportReferenceRow(t *testing.T) {
	line := `{"name": "Bernoulli(p=0.375)", "dataset_ind": 0, "include_description": true, "repeat_ind": 0, "seed": 43, "perm_ind": 0, ` +
		`"samples": [{"draw": 1, "data_id": 0}, {"draw": 0, "data_id": 1}], "n": 2, ` +
		`"messages": [{"role": "description", "content": "{'Heads': 0.375, 'Tails': 0.625}"}, ` +
		`{"role": "output", "content": "Tails", "example_ind": 0}, {"role": "output", "content": "Heads", "example_ind": 1}], ` +
		`"max_n": 2, "lambda": 12.5, "card": "Q\u2665"}`
	rows, err := ReadRows(strings.NewReader(line+"\n"), "ref.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	want := []Message{{RoleDescription, "{'Heads': 0.375, 'Tails': 0.625}"}, {RoleOutput, "Tails"}, {RoleOutput, "Heads"}}
	if !reflect.DeepEqual(r.Messages, want) {
		t.Errorf("messages = %+v, want %+v", r.Messages, want)
	}
	if r.Task != "Bernoulli(p=0.375)" || r.Seed != 43 || r.N != 2 || !r.IncludeDescription {
		t.Errorf("bookkeeping = task %q seed %d n %d desc %v", r.Task, r.Seed, r.N, r.IncludeDescription)
	}
	for _, k := range []string{"name", "dataset_ind", "repeat_ind", "perm_ind", "samples", "max_n", "lambda", "card"} {
		if _, ok := r.Extra[k]; !ok {
			t.Errorf("extra field %q lost", k)
		}
	}
	// written back, the extra fields survive unchanged
	var buf bytes.Buffer
	if err := WriteRows(&buf, rows); err != nil {
		t.Fatal(err)
	}
	back, err := ReadRows(&buf, "back.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.Extra {
		var a, b bytes.Buffer
		json.Compact(&a, v)
		json.Compact(&b, back[0].Extra[k])
		if a.String() != b.String() {
			t.Errorf("extra %q changed: %s → %s", k, v, back[0].Extra[k])
		}
	}
	// the minimal shape: only messages; bookkeeping is derived
	rows, err = ReadRows(strings.NewReader(`{"messages": [{"role": "input", "content": "2+2"}, {"role": "output", "content": "4"}, {"role": "output", "content": "5"}]}`), "min.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].N != 2 || rows[0].IncludeDescription || rows[0].Task != "" {
		t.Errorf("derived bookkeeping: %+v", rows[0])
	}
}

func TestWriteRowsRejectsInvalid(t *testing.T) {
	var buf bytes.Buffer
	err := WriteRows(&buf, []Row{
		{Task: "ok", Messages: []Message{{RoleOutput, "a"}}},
		{Task: "bad", Messages: []Message{{"assistant", "a"}}},
	})
	if err == nil || !strings.Contains(err.Error(), `row 2 (task "bad")`) {
		t.Fatalf("err = %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	out := filepath.Join(dir, "out.jsonl")
	rows := []Row{{Task: "t", Messages: []Message{{RoleOutput, "a"}}, N: 1}}
	if err := WriteRowsFile(in, rows); err != nil {
		t.Fatal(err)
	}
	// refuse to overwrite an input, by path or through another spelling of it
	for _, target := range []string{in, filepath.Join(dir, ".", "in.jsonl")} {
		if err := WriteRowsFile(target, rows, in); err == nil || !strings.Contains(err.Error(), "is also an input") {
			t.Errorf("WriteRowsFile(%s) over its input: err = %v", target, err)
		}
	}
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(in, link); err == nil {
		if err := WriteRowsFile(link, rows, in); err == nil {
			t.Errorf("wrote over the input through a symlink")
		}
	}
	// a failed write leaves the old file and no temporary behind
	if err := os.WriteFile(out, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := []Row{{Task: "bad", Messages: nil}}
	if err := WriteRowsFile(out, bad); err == nil {
		t.Fatal("no error writing an invalid row")
	}
	if b, _ := os.ReadFile(out); string(b) != "old\n" {
		t.Errorf("failed write changed the file: %q", b)
	}
	if err := WriteRowsFile(out, rows, in); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRowsFile(out)
	if err != nil || len(got) != 1 {
		t.Fatalf("ReadRowsFile: %v, %v", got, err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".spectrum-tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
	}
	if _, err := ReadRowsFile(filepath.Join(dir, "missing.jsonl")); err == nil {
		t.Error("no error for a missing file")
	}
}
