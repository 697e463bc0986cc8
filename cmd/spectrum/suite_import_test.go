package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/suite"
)

const annotations = `annotator,comment,toxicity,age
a1,you are great,0,34
a2,you are great,1,22
a1,go away,3,34
a3,go away,2,51
a2,go away,4,22
a1,nice work,0,34
a3,nice work,0,51
a2,nice work,1,22
a3,you are great,0,51
`

// TestSuiteImportCLI: import a CSV grouped by annotator, split by group,
// then evaluate the imported rows and train on them like built-in ones.
func TestSuiteImportCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toxicity.csv")
	os.WriteFile(data, []byte(annotations), 0o644)
	train, test := filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "test.jsonl")
	_, stderr, err := runCLI(t, "suite", "import", data, "--group-by", "annotator", "--input-column", "comment", "--output-column", "toxicity",
		"--description", "Toxicity ratings (0-4) of one annotator, aged {age}.", "--description-prob", "1",
		"--test-fraction", "0.34", "-o", train, "--test-output", test)
	if err != nil {
		t.Fatal(err, stderr)
	}
	trainRows, err := suite.ReadRowsFile(train)
	if err != nil {
		t.Fatal(err)
	}
	testRows, err := suite.ReadRowsFile(test)
	if err != nil {
		t.Fatal(err)
	}
	if len(trainRows) != 2 || len(testRows) != 1 {
		t.Fatalf("%d train rows, %d test rows; want 2 and 1", len(trainRows), len(testRows))
	}
	byGroup := map[string]suite.Row{}
	for _, r := range append(trainRows, testRows...) {
		byGroup[string(r.Extra["group"])] = r
	}
	a1 := byGroup[`"a1"`]
	want := []suite.Message{
		{Role: "description", Content: "Toxicity ratings (0-4) of one annotator, aged 34."},
		{Role: "input", Content: "you are great"}, {Role: "output", Content: "0"},
		{Role: "input", Content: "go away"}, {Role: "output", Content: "3"},
		{Role: "input", Content: "nice work"}, {Role: "output", Content: "0"},
	}
	if a1.Task != "toxicity" || len(a1.Messages) != len(want) {
		t.Fatalf("annotator a1 row: %+v", a1)
	}
	for i := range want {
		if a1.Messages[i] != want[i] {
			t.Errorf("a1 message %d = %+v, want %+v", i, a1.Messages[i], want[i])
		}
	}

	// eval reads the imported rows like built-in ones.
	stories := filepath.Join(sharedModels, "stories260K.gguf")
	res := filepath.Join(dir, "res.json")
	if _, stderr, err := runCLI(t, "eval", "steer", stories, "--rows", train, "--k", "1", "-o", res, "-q"); err != nil {
		t.Fatal(err, stderr)
	}
	var rep struct {
		Steer map[string]map[string]any `json:"steer"`
	}
	b, _ := os.ReadFile(res)
	if err := json.Unmarshal(oneReport(t, b), &rep); err != nil {
		t.Fatal(err)
	}
	if st := rep.Steer["toxicity"]; st == nil || st["n_rows"].(float64) != 2 || st["loss_geq_1"] == nil {
		t.Errorf("steer report: %s", b)
	}
	// tune trains on them.
	out, stderr, err := runCLI(t, "tune", stories, "--rows", train, "--max-steps", "1", "--max-length", "256", "--rank", "2",
		"--grad-accum", "1", "--eval-tasks", "none", "--threads", "1", "-q", "-o", filepath.Join(dir, "a.gguf"))
	if err != nil {
		t.Fatal(err, stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum["steps"].(float64) != 1 {
		t.Errorf("tune summary %q: %v", out, err)
	}
}

// TestSuiteImportRecipeCLI: a recipe through the command line, and the
// pointer from suite generate to it.
func TestSuiteImportRecipeCLI(t *testing.T) {
	out, _, err := runCLI(t, "suite", "import", "--recipe", "winogrande", filepath.Join("..", "..", "suite", "importer", "testdata", "winogrande.parquet"), "--description-prob", "0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, `{"task":"winogrande","messages":[{"role":"input","content":"Sentence: `) || strings.Count(out, "\n") != 1 {
		t.Errorf("output %q", out)
	}
	out, _, err = runCLI(t, "suite", "recipes")
	if err != nil || !strings.Contains(out, "mmlu                        test   Hugging Face cais/mmlu, all/test-00000-of-00001.parquet") {
		t.Errorf("recipes: %v\n%s", err, out)
	}
	_, _, err = runCLI(t, "suite", "generate", "mmlu")
	if err == nil || !strings.Contains(err.Error(), "spectrum suite import --recipe mmlu FILE") {
		t.Errorf("generate mmlu: %v", err)
	}
}

// TestSuiteImportBadInput: clear errors, and inputs are never overwritten.
func TestSuiteImportBadInput(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toxicity.csv")
	os.WriteFile(data, []byte(annotations), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{data}, "name the output: --output-column COLUMN"},
		{[]string{data, "--output-column", "label"}, `toxicity.csv: no column "label" (columns: "annotator", "comment", "toxicity", "age")`},
		{[]string{data, "--output-column", "toxicity", "--output-template", "{toxicity}"}, "give --output-column or --output-template, not both"},
		{[]string{data, "--output-column", "toxicity", "--test-fraction", "0.5"}, "--test-fraction and --test-output go together"},
		{[]string{data, "--output-column", "toxicity", "--format", "xlsx"}, `--format: unknown format "xlsx"`},
		{[]string{data, "--output-column", "toxicity", "--max-examples", "-1"}, "max examples must be ≥ 0"},
		{[]string{data, "--output-column", "toxicity", "--permutations", "0"}, "--permutations must be ≥ 1"},
		{[]string{data, "--output-column", "toxicity", "-o", data}, "is also an input"},
		{[]string{data, "--recipe", "mmlu", "--output-column", "toxicity"}, "--output-column cannot change recipe mmlu"},
		{[]string{data, "--recipe", "mmlu"}, `no column "question", which recipe mmlu needs`},
		{[]string{data, "--recipe", "nope"}, `no recipe "nope"`},
		{[]string{filepath.Join(dir, "missing.jsonl"), "--output-column", "x"}, "no such file"},
	}
	for _, c := range cases {
		_, _, err := runCLI(t, append([]string{"suite", "import"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("suite import %q: err = %v, want it to contain %q", c.args, err, c.want)
		}
	}
	if b, _ := os.ReadFile(data); string(b) != annotations {
		t.Error("the input file was changed")
	}
}
