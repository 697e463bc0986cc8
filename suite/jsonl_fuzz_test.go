package suite

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzReadRows feeds arbitrary bytes to the rows JSONL reader, seeded with
// generated rows of every offline kind and hand-made corruptions. It must
// never panic or hang; an error must name the input and a line; whatever it
// accepts must be valid rows that write back and read again unchanged.
func FuzzReadRows(f *testing.F) {
	for _, name := range []string{"coinflip", "us_states_full_names", "urn"} {
		task, err := Lookup(name)
		if err != nil {
			f.Fatal(err)
		}
		rows, err := task.Generate(1, 2)
		if err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteRows(&buf, rows); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:buf.Len()/2]) // cut off mid-record
	}
	for _, s := range []string{
		"", "\n\n", "{}", "[]", "null\n", `{"task":"t","messages":[{"role":"output","content":"a"}]}`,
		`{"task":"t","messages":[{"role":"nope","content":"a"}]}`, `{"messages":"x"}`, "\xff\xfe{",
		`{"task":"t","messages":[{"role":"description","content":"d"}],"target_outputs":["a"],"target_probs":[2]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ReadRows(bytes.NewReader(data), "fuzz.jsonl")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.jsonl") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		for i := range rows {
			if err := rows[i].Validate(); err != nil {
				t.Fatalf("accepted an invalid row %d: %v", i+1, err)
			}
		}
		var buf bytes.Buffer
		if err := WriteRows(&buf, rows); err != nil {
			t.Fatalf("accepted rows do not write back: %v", err)
		}
		again, err := ReadRows(&buf, "again")
		if err != nil || len(again) != len(rows) {
			t.Fatalf("written rows do not read back: %d vs %d, %v", len(again), len(rows), err)
		}
	})
}
