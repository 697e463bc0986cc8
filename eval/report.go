package eval

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"
)

// AdapterInfo names a LoRA adapter of an evaluated model.
type AdapterInfo struct {
	Path  string  `json:"path"`
	Scale float32 `json:"scale"`
}

// Report is the results JSON of `spectrum eval` for one model (with its
// adapters). Its shape is stable:
//
//	{"model": path, "adapters": [{"path", "scale"}], "format": name,
//	 "steer": {"<task>": SteerResult},
//	 "coverage": {"<task>": {"<variant>": CoverageMetrics}},
//	 "coverage_aggregate": {"<variant>": {"<metric>": Stats}},
//	 "dist": {"<task>": DistResult}}
//
// Sections that were not run are left out.
type Report struct {
	Model    string        `json:"model"`
	Adapters []AdapterInfo `json:"adapters"`
	Format   string        `json:"format"`
	// Server is set when the model ran on an OpenAI-compatible server (Model
	// is then the GGUF that gave the tokenizer and format).
	Server *ServerInfo `json:"server,omitempty"`
	// BLAS names the BLAS library that ran the prompt batches of a local
	// run (llama.BLAS), empty without one. Scores with and without it
	// differ by about the activation-quantization error of quantized
	// models (e.g. 1e-3 relative on Gemma 3 270M Q4_K_M NLLs).
	BLAS              string                                `json:"blas,omitempty"`
	Steer             map[string]*SteerResult               `json:"steer,omitempty"`
	Coverage          map[string]map[string]CoverageMetrics `json:"coverage,omitempty"`
	CoverageAggregate map[string]map[string]Stats           `json:"coverage_aggregate,omitempty"`
	Dist              map[string]*DistResult                `json:"dist,omitempty"`

	// labelFormat adds the format to Label (models of a comparison are
	// evaluated in different formats).
	labelFormat bool

	// units holds, per metric of the markdown table, the values of the
	// units a paired comparison pairs (steer and dist: rows; coverage:
	// tasks).
	units map[string]*unitValues
}

// unitValues are one metric's values per unit.
type unitValues struct {
	unit   string             // "row" or "task"
	values map[string]float64 // unit key → value
}

// addUnit records one unit's value of a metric.
func (r *Report) addUnit(metric, unit, key string, v float64) {
	if r.units == nil {
		r.units = map[string]*unitValues{}
	}
	u := r.units[metric]
	if u == nil {
		u = &unitValues{unit: unit, values: map[string]float64{}}
		r.units[metric] = u
	}
	u.values[key] = v
}

// CompareReports returns the paired comparison of every metric of each
// report after the first with the first, over the units both have, with
// Holm's correction over all of them; nil for fewer than two reports.
func CompareReports(reports []*Report) []*PairedDiff {
	if len(reports) < 2 {
		return nil
	}
	ref := reports[0]
	var out []*PairedDiff
	for i, r := range reports[1:] {
		for _, metric := range sortedKeys(ref.units) {
			u, ru := r.units[metric], ref.units[metric]
			if u == nil {
				continue
			}
			if c := Compare(metric, ru.unit, r.Label(), ref.Label(), u.values, ru.values); c != nil {
				c.Index = i + 1
				out = append(out, c)
			}
		}
	}
	AdjustHolm(out)
	return out
}

// ServerInfo names the server a report's numbers come from.
type ServerInfo struct {
	URL   string `json:"url"`
	Model string `json:"model"`
}

// Label is a short name of the report's model for tables and plots: the
// model file's base name, with "+adapter" for each adapter, and " (format)"
// when the models of a comparison run in different formats.
func (r *Report) Label() string {
	s := strings.TrimSuffix(filepath.Base(r.Model), ".gguf")
	for _, a := range r.Adapters {
		s += "+" + strings.TrimSuffix(filepath.Base(a.Path), ".gguf")
		if a.Scale != 1 {
			s += fmt.Sprintf(":%g", a.Scale)
		}
	}
	if r.labelFormat {
		s += " (" + r.Format + ")"
	}
	if r.Server != nil {
		s += "@" + r.Server.URL
	}
	return s
}

func fmtNum(x Num, sem Num) string {
	f := float64(x)
	if math.IsNaN(f) {
		return "–"
	}
	if s := float64(sem); !math.IsNaN(s) && s > 0 {
		return fmt.Sprintf("%.4f ± %.4f", f, s)
	}
	return fmt.Sprintf("%.4f", f)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// WriteMarkdown writes one markdown table comparing the reports (one column
// each): the headline metrics of every task they hold (steer: loss_geq_1,
// all_acc_geq_1, k; coverage: percent_valid, unique_gens_pct,
// unique_valid_count per variant; dist: js_divergence and the others).
func WriteMarkdown(w io.Writer, reports []*Report) error {
	return WriteMarkdownCompared(w, reports, nil)
}

// fmtDiff is a table cell's paired difference: "Δ +0.0123 [−0.0040, +0.0290]",
// with " *" when it holds after Holm's correction.
func fmtDiff(c *PairedDiff) string {
	s := fmt.Sprintf("Δ %+.4f [%+.4f, %+.4f]", float64(c.Delta), float64(c.Lo), float64(c.Hi))
	if math.IsNaN(float64(c.Lo)) {
		s = fmt.Sprintf("Δ %+.4f [one unit]", float64(c.Delta))
	}
	if c.Holds {
		s += " *"
	}
	return s
}

// WriteMarkdownCompared is WriteMarkdown with each compared model's cells
// followed by its paired difference from the first model (Δ [95 % interval],
// * where it holds after Holm's correction over the table), where cs has
// one.
func WriteMarkdownCompared(w io.Writer, reports []*Report, cs []*PairedDiff) error {
	type key struct {
		metric string
		model  int
	}
	diffs := map[key]*PairedDiff{}
	for _, c := range cs {
		diffs[key{c.Metric, c.Index}] = c
	}
	type line struct {
		name string
		cell func(r *Report) string
	}
	var lines []line
	seen := map[string]bool{}
	add := func(name string, cell func(r *Report) string) {
		if !seen[name] {
			seen[name] = true
			lines = append(lines, line{name, cell})
		}
	}
	steerTasks, covTasks, distTasks := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, r := range reports {
		for t := range r.Steer {
			steerTasks[t] = true
		}
		for t := range r.Coverage {
			covTasks[t] = true
		}
		for t := range r.Dist {
			distTasks[t] = true
		}
	}
	for _, t := range sortedKeys(steerTasks) {
		get := func(r *Report) *SteerResult { return r.Steer[t] }
		add("steer "+t+" k", func(r *Report) string {
			if s := get(r); s != nil {
				return fmt.Sprintf("%d (%d rows)", s.K, s.NRows)
			}
			return ""
		})
		add("steer "+t+" loss_geq_1", func(r *Report) string {
			if s := get(r); s != nil {
				return fmtNum(s.LossGeq1, s.LossGeq1Sem)
			}
			return ""
		})
		add("steer "+t+" all_acc_geq_1", func(r *Report) string {
			if s := get(r); s != nil {
				return fmtNum(s.AllAccGeq1, s.AllAccGeq1Sem)
			}
			return ""
		})
	}
	for _, v := range Variants() {
		for _, metric := range []string{"percent_valid", "unique_gens_pct", "unique_valid_count"} {
			add("coverage "+v+" "+metric+" (mean over tasks)", func(r *Report) string {
				if st, ok := r.CoverageAggregate[v][metric]; ok {
					return fmtNum(st.Mean, st.Sem)
				}
				return ""
			})
		}
	}
	for _, t := range sortedKeys(covTasks) {
		for _, v := range Variants() {
			add("coverage "+t+" "+v+" valid / unique / yield", func(r *Report) string {
				if m, ok := r.Coverage[t][v]; ok {
					return fmt.Sprintf("%.2f / %.2f / %d", float64(m.PercentValid), float64(m.UniqueGensPct), m.UniqueValidCount)
				}
				return ""
			})
		}
	}
	for _, t := range sortedKeys(distTasks) {
		for _, metric := range []string{"js_divergence", "kl", "reverse_kl", "cross_entropy", "mode_match", "coverage"} {
			add("dist "+t+" "+metric, func(r *Report) string {
				d := r.Dist[t]
				if d == nil {
					return ""
				}
				st := map[string]Stats{"js_divergence": d.JS, "kl": d.KL, "reverse_kl": d.ReverseKL,
					"cross_entropy": d.CrossEntropy, "mode_match": d.ModeMatch, "coverage": d.Coverage}[metric]
				return fmtNum(st.Mean, st.Sem)
			})
		}
	}
	var b strings.Builder
	b.WriteString("| metric |")
	for _, r := range reports {
		fmt.Fprintf(&b, " %s |", strings.ReplaceAll(r.Label(), "|", `\|`))
	}
	b.WriteString("\n|---|")
	for range reports {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, l := range lines {
		cells := make([]string, len(reports))
		empty := true
		for i, r := range reports {
			cells[i] = l.cell(r)
			if cells[i] != "" {
				empty = false
				if c := diffs[key{l.name, i}]; c != nil && i > 0 {
					cells[i] += " (" + fmtDiff(c) + ")"
				}
			}
		}
		if empty {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s |\n", l.name, strings.Join(cells, " | "))
	}
	if len(cs) > 0 {
		b.WriteString("\nΔ: mean paired difference from the first model over the same rows (steer: mean over each row's outputs with ≥ 1 earlier output; dist: distinct rows) or tasks (coverage), [95 % paired bootstrap interval]; * holds after Holm's correction over the table (sign-flip permutation test, p_holm < 0.05).\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
