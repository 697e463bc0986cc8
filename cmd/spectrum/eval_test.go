package main

import (
	"bufio"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readJSONL(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestEvalSteerCLI(t *testing.T) {
	dir := t.TempDir()
	res, rowsOut, plot := filepath.Join(dir, "res.json"), filepath.Join(dir, "rows.jsonl"), filepath.Join(dir, "c.png")
	model := filepath.Join(sharedModels, "stories260K.gguf")
	out, _, err := runCLI(t, "eval", "steer", model, "--tasks", "flight", "--n-rows", "6", "--k", "2",
		"-o", res, "--rows-out", rowsOut, "--plot", plot, "-q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "| steer flight loss_geq_1 |") {
		t.Errorf("markdown summary:\n%s", out)
	}
	b, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Model    string                    `json:"model"`
		Adapters []any                     `json:"adapters"`
		Format   string                    `json:"format"`
		Steer    map[string]map[string]any `json:"steer"`
	}
	if err := json.Unmarshal(oneReport(t, b), &rep); err != nil {
		t.Fatal(err)
	}
	fl := rep.Steer["flight"]
	if rep.Format != "colon" || rep.Adapters == nil || fl == nil || fl["k"].(float64) != 2 || fl["n_rows"].(float64) != 6 {
		t.Fatalf("report: %s", b)
	}
	for _, k := range []string{"loss", "loss_geq_1", "all_acc", "all_acc_geq_1", "first_acc", "acc", "loss_sem", "all_acc_geq_1_sem", "ece", "curve"} {
		if _, ok := fl[k]; !ok {
			t.Errorf("steer result lacks %q", k)
		}
	}
	// The aggregates follow from --rows-out.
	var sum float64
	n := 0
	for _, r := range readJSONL(t, rowsOut) {
		for _, o := range r["outputs"].([]any) {
			o := o.(map[string]any)
			if o["example_index"].(float64) >= 1 {
				sum += o["loss"].(float64)
				n++
			}
		}
	}
	if n != 12 || math.Abs(sum/float64(n)-fl["loss_geq_1"].(float64)) > 1e-9 {
		t.Errorf("loss_geq_1 %v, from rows-out %v over %d outputs", fl["loss_geq_1"], sum/float64(n), n)
	}
	if curve := fl["curve"].([]any); len(curve) != 3 {
		t.Errorf("curve has %d points, want 3", len(curve))
	}
	// Two 5-inch panels side by side at 96 dpi, the legend below them.
	pf, err := os.Open(plot)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil {
		t.Fatalf("plot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 960 || b.Dy() <= 360 {
		t.Errorf("plot is %dx%d, want 960 wide and taller than 360", b.Dx(), b.Dy())
	}
}

func TestEvalDistCompareCLI(t *testing.T) {
	dir := t.TempDir()
	res, rowsOut := filepath.Join(dir, "res.json"), filepath.Join(dir, "rows.jsonl")
	model := filepath.Join(sharedModels, "stories260K.gguf")
	out, _, err := runCLI(t, "eval", "dist", model, "--tasks", "urn", "--n-rows", "5", "--compare", model, "-o", res, "--rows-out", rowsOut, "-q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "| metric | stories260K | stories260K |") || !strings.Contains(out, "| dist urn js_divergence |") {
		t.Errorf("table:\n%s", out)
	}
	b, _ := os.ReadFile(res)
	var reps []struct {
		Dist map[string]struct {
			JS    struct{ Mean float64 } `json:"js_divergence"`
			NRows int                    `json:"n_rows"`
		} `json:"dist"`
	}
	var file struct{ Models json.RawMessage }
	json.Unmarshal(b, &file)
	if err := json.Unmarshal(file.Models, &reps); err != nil || len(reps) != 2 {
		t.Fatalf("compare JSON: %v %s", err, b)
	}
	if reps[0].Dist["urn"].JS.Mean != reps[1].Dist["urn"].JS.Mean || reps[0].Dist["urn"].NRows != 5 {
		t.Errorf("same model, different JS: %+v", reps)
	}
	// The paired comparison of a model with itself: Δ 0, interval [0, 0],
	// p = 1, nothing marked.
	var cmp struct {
		Comparisons []struct {
			Metric, Unit string
			N            int
			D            float64 `json:"delta"`
			Lo           float64 `json:"ci_lo"`
			Hi           float64 `json:"ci_hi"`
			P            float64 `json:"p_value"`
			PHolm        float64 `json:"p_holm"`
			Holds        bool
		}
	}
	if err := json.Unmarshal(b, &cmp); err != nil || len(cmp.Comparisons) != 1 {
		t.Fatalf("comparisons: %v %s", err, b)
	}
	if c := cmp.Comparisons[0]; c.Metric != "dist urn js_divergence" || c.Unit != "distinct row" || c.N != 5 || c.D != 0 || c.Lo != 0 || c.Hi != 0 || c.P != 1 || c.PHolm != 1 || c.Holds {
		t.Errorf("self comparison %+v", c)
	}
	if !strings.Contains(out, "(Δ +0.0000 [+0.0000, +0.0000])") || !strings.Contains(out, "Holm") {
		t.Errorf("table without the paired difference:\n%s", out)
	}
	var sum float64
	rows := readJSONL(t, rowsOut)
	for _, r := range rows[:5] {
		sum += r["js_divergence"].(float64)
	}
	if len(rows) != 10 || math.Abs(sum/5-reps[0].Dist["urn"].JS.Mean) > 1e-12 {
		t.Errorf("rows-out: %d rows, mean JS %v vs %v", len(rows), sum/5, reps[0].Dist["urn"].JS.Mean)
	}
}

func TestEvalCoverageCLI(t *testing.T) {
	dir := t.TempDir()
	rowsOut := filepath.Join(dir, "rows.jsonl")
	model := filepath.Join(sharedModels, "stories260K.gguf")
	out, _, err := runCLI(t, "eval", "coverage", model, "--tasks", "rng_1_10", "-n", "10", "--variants", "both", "--seed", "3", "--rows-out", rowsOut, "-q")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Coverage map[string]map[string]struct {
			N            int     `json:"n"`
			RawUniquePct float64 `json:"raw_unique_pct"`
		} `json:"coverage"`
		Agg map[string]map[string]struct{ Mean float64 } `json:"coverage_aggregate"`
	}
	if err := json.Unmarshal(oneReport(t, []byte(out)), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c := rep.Coverage["rng_1_10"]["both"]
	gens := readJSONL(t, rowsOut)
	uniq := map[string]bool{}
	for _, g := range gens {
		uniq[g["text"].(string)] = true
	}
	if c.N != 10 || len(gens) != 10 || c.RawUniquePct != float64(len(uniq))/10 {
		t.Errorf("coverage %+v from %d generations (%d distinct)", c, len(gens), len(uniq))
	}
	if _, ok := rep.Agg["both"]["percent_valid"]; !ok {
		t.Errorf("no aggregate: %s", out)
	}
}

func TestEvalBadInputs(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(sharedModels, "stories260K.gguf")
	noOut := filepath.Join(dir, "noout.jsonl")
	os.WriteFile(noOut, []byte(`{"task":"t","messages":[{"role":"description","content":"d"},{"role":"output","content":"a"}]}`+"\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "steer", model, "--tasks", "no_such_task"}, "no_such_task"},
		{[]string{"eval", "steer", model, "--tasks", "urn"}, "eval dist"},
		{[]string{"eval", "steer", model, "--format", "spectrum"}, "spectrum"},
		{[]string{"eval", "steer", model, "--rows", noOut}, "k"},
		{[]string{"eval", "steer", model, "--tasks", "flight", "--plot", filepath.Join(dir, "x.gif")}, "--plot " + filepath.Join(dir, "x.gif") + ": unsupported file extension"},
		// The extension is checked before the model is opened.
		{[]string{"eval", "all", filepath.Join(dir, "missing.gguf"), "--plot", filepath.Join(dir, "x.svgz")}, "unsupported file extension"},
		{[]string{"eval", "coverage", model, "--rows", noOut}, "no rows"},
		{[]string{"eval", "dist", model, "--tasks", "habermas"}, "--rows"},
		{[]string{"eval", "coverage", model, "--variants", "neither"}, "neither"},
	} {
		_, _, err := runCLI(t, append(c.args, "-q")...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.args[1:], err, c.want)
		}
	}
}

// reportsOf reads eval's JSON, {"models": [report, …]}, one shape for one
// model or several.
func reportsOf(t *testing.T, b []byte) []json.RawMessage {
	t.Helper()
	var file struct {
		Models []json.RawMessage `json:"models"`
	}
	if err := json.Unmarshal(b, &file); err != nil || len(file.Models) == 0 {
		t.Fatalf("eval JSON %.200s: %v (want {\"models\": […]})", b, err)
	}
	return file.Models
}

// oneReport is the only report of eval's JSON.
func oneReport(t *testing.T, b []byte) []byte {
	t.Helper()
	reps := reportsOf(t, b)
	if len(reps) != 1 {
		t.Fatalf("%d reports, want 1", len(reps))
	}
	return reps[0]
}

func TestParseModelSpec(t *testing.T) {
	for _, c := range []struct {
		in, path, format string
		adapters         int
	}{
		{"base.gguf", "base.gguf", "", 0},
		{"base.gguf+a.gguf:0.5@spectrum", "base.gguf", "spectrum", 1},
		{"base.gguf@colon", "base.gguf", "colon", 0},
		{"dir@home/base.gguf", "dir@home/base.gguf", "", 0}, // not a format: part of the path
	} {
		sp, err := parseModelSpec(c.in)
		if err != nil || sp.Path != c.path || sp.Format != c.format || len(sp.Adapters) != c.adapters {
			t.Errorf("%q: %+v %v", c.in, sp, err)
		}
	}
	if _, err := parseModelSpec("@colon"); err == nil {
		t.Error("no model: no error")
	}
}
