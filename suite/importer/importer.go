// Package importer builds Spectrum Suite rows from tabular data: records are
// grouped (one annotator, one user, one survey respondent: one generating
// process per group), each group is cut into rows of exchangeable examples,
// and every example becomes an (input?, output) message pair, formatted as
// the reference's format_sample does.
//
// It is the reference's GenericMultivariate / IndividualMultivariate
// generate_many (reference §1.2) driven by flags, plus named recipes that
// reproduce the reference's loaders for tasks whose data is one public file
// (recipes.go). Random choices (shuffles, row sizes, description draws) come
// from our own seeded streams, not NumPy's, so rows hold the same kind of
// content as the reference's but not the same draws.
package importer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/spectrumkit/spectrum/suite"
	"github.com/spectrumkit/spectrum/table"
)

// Spec says how to build rows from records.
type Spec struct {
	// Task names the rows' task (and so their train/test split by name
	// prefix, suite.IsTest).
	Task string
	// Input is optional; Output is required.
	Input, Output Fields
	// GroupBy columns: one group per distinct combination, in order of
	// first appearance. None: all records form one group.
	GroupBy []string
	// Descriptions are templates over the group's first record ({column}
	// fields); a row's description is one of them, chosen uniformly, with
	// probability DescriptionProb.
	Descriptions    []string
	DescriptionProb float64
	// MaxExamples cuts each group into consecutive rows of at most this many
	// examples (0: the whole group in one row). MeanExamples, when > 0,
	// draws each row's size instead, as the reference's
	// geom_and_poisson_iter(mean) (its n_iter iterators).
	MaxExamples  int
	MeanExamples float64
	// MinExamples drops rows with fewer examples (the last, short piece of
	// a group, or a small group).
	MinExamples int
	// Repeats > 0 draws that many rows per group, each a fresh random
	// subset (the reference's n_per > 0), instead of cutting the group into
	// disjoint rows (n_per = -1).
	Repeats int
	// Permutations emits each row this many times with its examples in a
	// different order (the reference's permutations_per_iter; default 1).
	Permutations int
	// Shuffle shuffles records within each group, the order of groups
	// before MaxGroups applies, the examples of each row and the final rows.
	// Without it, file order is kept everywhere.
	Shuffle bool
	Seed    int64
	// MaxGroups keeps the first groups only (0: all).
	MaxGroups int
	// DropMissing skips records with a missing value (null, NaN, empty CSV
	// cell) in a column the rows use; without it they are kept and format as
	// Python would ("nan", "None"), except in GroupBy columns, where they are
	// an error.
	DropMissing bool
	// TestFraction > 0 holds out that fraction of the groups (of the rows,
	// without GroupBy) as test rows: no group is split across train and test.
	TestFraction float64
}

// Result is what Build made.
type Result struct {
	Train, Test []suite.Row
	// Groups is the number of groups used; Dropped counts records skipped
	// for missing values, ShortRows the rows dropped by MinExamples.
	Groups, Dropped, ShortRows int
}

type ref struct {
	t *table.Table
	r *table.Record
}

func (x ref) get(col string) any { return x.t.Get(x.r, col) }
func (x ref) where() string      { return x.t.Where(x.r) }
func (s *Spec) perms() int {
	if s.Permutations < 1 {
		return 1
	}
	return s.Permutations
}

func (s *Spec) check() error {
	switch {
	case s.Task == "":
		return errors.New("no task name")
	case s.Output.IsZero():
		return errors.New("no output: name the output column(s) or give a template")
	case s.MaxExamples < 0:
		return fmt.Errorf("max examples must be ≥ 0 (0: no limit), got %d", s.MaxExamples)
	case s.MinExamples < 0:
		return fmt.Errorf("min examples must be ≥ 0, got %d", s.MinExamples)
	case s.MaxExamples > 0 && s.MinExamples > s.MaxExamples:
		return fmt.Errorf("min examples (%d) exceeds max examples (%d): every row would be dropped", s.MinExamples, s.MaxExamples)
	case s.MeanExamples != 0 && s.MeanExamples < 2:
		return fmt.Errorf("mean examples must be ≥ 2, got %v", s.MeanExamples)
	case s.MeanExamples > 0 && s.MaxExamples > 0:
		return errors.New("give max examples or mean examples, not both")
	case s.Repeats < 0:
		return fmt.Errorf("repeats must be ≥ 0, got %d", s.Repeats)
	case s.Permutations < 0:
		return fmt.Errorf("permutations must be ≥ 1, got %d", s.Permutations)
	case s.MaxGroups < 0:
		return fmt.Errorf("max groups must be ≥ 0 (0: all), got %d", s.MaxGroups)
	case !(s.DescriptionProb >= 0 && s.DescriptionProb <= 1):
		return fmt.Errorf("description probability must be in [0, 1], got %v", s.DescriptionProb)
	case !(s.TestFraction >= 0 && s.TestFraction < 1):
		return fmt.Errorf("test fraction must be in [0, 1), got %v", s.TestFraction)
	}
	return nil
}

// Build makes rows from the records of tables (several files are read as
// one table; each must hold every column the spec uses).
func Build(s Spec, tables ...*table.Table) (*Result, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if len(tables) == 0 {
		return nil, errors.New("no input files")
	}
	outCols, err := s.Output.columns()
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	inCols, err := s.Input.columns()
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	var descCols []string
	for _, d := range s.Descriptions {
		cols, err := (Fields{Template: d}).columns()
		if err != nil {
			return nil, fmt.Errorf("description: %w", err)
		}
		descCols = append(descCols, cols...)
	}
	used := uniq(outCols, inCols, s.GroupBy)
	for _, t := range tables {
		for _, c := range uniq(used, descCols) {
			if t.Col(c) < 0 {
				return nil, fmt.Errorf("%s: no column %q (columns: %s)", t.Path, c, strings.Join(quoteAll(t.Columns), ", "))
			}
		}
	}

	res := &Result{}
	var recs []ref
	for _, t := range tables {
	records:
		for i := range t.Records {
			x := ref{t, &t.Records[i]}
			for _, c := range used {
				if missing(x.get(c)) {
					if s.DropMissing {
						res.Dropped++
						continue records
					}
					if slices.Contains(s.GroupBy, c) {
						return nil, fmt.Errorf("%s: column %q (a --group-by column) is missing; drop such records with --drop-missing", x.where(), c)
					}
				}
			}
			recs = append(recs, x)
		}
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("no records left (%d dropped for missing values)", res.Dropped)
	}
	if err := checkKinds(recs, used); err != nil {
		return nil, err
	}

	groups := group(recs, s.GroupBy)
	rng := rand.New(rand.NewPCG(uint64(s.Seed), 0x1b873593))
	if s.Shuffle {
		rng.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
	}
	if s.MaxGroups > 0 && len(groups) > s.MaxGroups {
		groups = groups[:s.MaxGroups]
	}
	res.Groups = len(groups)

	counter := suite.NewExampleCounter(s.Seed)
	size := func(left int) int {
		n := left
		switch {
		case s.MeanExamples > 0:
			n = counter.Next(s.MeanExamples)
		case s.MaxExamples > 0:
			n = s.MaxExamples
		}
		return min(n, left)
	}
	type unit struct{ rows []suite.Row }
	var units []unit
	index := 0
	for gi, g := range groups {
		var chunks [][]ref
		if s.Repeats > 0 {
			for range s.Repeats {
				c := append([]ref(nil), g...)
				rng.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
				chunks = append(chunks, c[:size(len(c))])
			}
		} else {
			if s.Shuffle {
				rng.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
			}
			for start := 0; start < len(g); {
				n := size(len(g) - start)
				chunks = append(chunks, g[start:start+n])
				start += n
			}
		}
		var u unit
		for ci, c := range chunks {
			if len(c) < max(s.MinExamples, 1) {
				res.ShortRows++
				continue
			}
			for p := range s.perms() {
				ex := append([]ref(nil), c...)
				if s.Shuffle {
					rng.Shuffle(len(ex), func(i, j int) { ex[i], ex[j] = ex[j], ex[i] })
				}
				row, err := s.row(ex, firstOf(g), rng, index)
				if err != nil {
					return nil, err
				}
				extras := []struct {
					k string
					v any
				}{{"dataset_ind", gi}, {"repeat_ind", ci}, {"perm_ind", p}}
				if len(s.GroupBy) > 0 {
					extras = append(extras, struct {
						k string
						v any
					}{"group", groupValue(c[0], s.GroupBy)})
				}
				for _, e := range extras {
					if err := row.SetExtra(e.k, e.v); err != nil {
						return nil, err
					}
				}
				u.rows = append(u.rows, row)
				index++
			}
		}
		if len(s.GroupBy) > 0 {
			units = append(units, u)
		} else {
			for _, r := range u.rows {
				units = append(units, unit{[]suite.Row{r}})
			}
		}
	}
	if len(units) == 0 || index == 0 {
		return nil, fmt.Errorf("no rows: every group has fewer than %d examples", max(s.MinExamples, 1))
	}

	nTest := 0
	if s.TestFraction > 0 {
		if len(units) < 2 {
			return nil, fmt.Errorf("cannot split %d group into train and test (group the records with --group-by, or cut them into more rows)", len(units))
		}
		nTest = max(1, min(len(units)-1, int(s.TestFraction*float64(len(units))+0.5)))
		split := rand.New(rand.NewPCG(uint64(s.Seed), 0x7e57))
		split.Shuffle(len(units), func(i, j int) { units[i], units[j] = units[j], units[i] })
	}
	for i, u := range units {
		if i < nTest {
			res.Test = append(res.Test, u.rows...)
		} else {
			res.Train = append(res.Train, u.rows...)
		}
	}
	if s.Shuffle {
		for _, rows := range [][]suite.Row{res.Train, res.Test} {
			rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		}
	}
	return res, nil
}

// row makes one row from its examples; first is the group's first record
// (in file order), which fills the description's fields.
func (s *Spec) row(ex []ref, first ref, rng *rand.Rand, index int) (suite.Row, error) {
	include := len(s.Descriptions) > 0 && rng.Float64() < s.DescriptionProb
	msgs := make([]suite.Message, 0, 2*len(ex)+1)
	if include {
		d := s.Descriptions[rng.IntN(len(s.Descriptions))]
		msgs = append(msgs, suite.Message{Role: suite.RoleDescription, Content: (Fields{Template: d}).render(first.get)})
	}
	for _, x := range ex {
		if !s.Input.IsZero() {
			msgs = append(msgs, suite.Message{Role: suite.RoleInput, Content: s.Input.render(x.get)})
		}
		msgs = append(msgs, suite.Message{Role: suite.RoleOutput, Content: s.Output.render(x.get)})
	}
	row := suite.Row{Task: s.Task, Messages: msgs, Seed: s.Seed, Index: index, N: len(ex), IncludeDescription: include}
	if err := row.Validate(); err != nil {
		return row, fmt.Errorf("%s: %w", ex[0].where(), err)
	}
	return row, nil
}

func firstOf(g []ref) ref {
	best := g[0]
	for _, x := range g[1:] {
		if x.t == best.t && x.r.Pos < best.r.Pos {
			best = x
		}
	}
	return best
}

// group splits records by the GroupBy values (Python str of each), in order
// of first appearance.
func group(recs []ref, by []string) [][]ref {
	if len(by) == 0 {
		return [][]ref{recs}
	}
	idx := map[string]int{}
	var out [][]ref
	for _, x := range recs {
		var key strings.Builder
		for _, c := range by {
			key.WriteString(suite.PyRepr(pyValue(x.get(c))))
			key.WriteByte(0)
		}
		i, ok := idx[key.String()]
		if !ok {
			i = len(out)
			idx[key.String()] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], x)
	}
	return out
}

func groupValue(x ref, by []string) any {
	if len(by) == 1 {
		return pyJSONValue(x.get(by[0]))
	}
	m := map[string]any{}
	for _, c := range by {
		m[c] = pyJSONValue(x.get(c))
	}
	return m
}

// pyJSONValue makes a value encoding/json can write (objects as maps).
func pyJSONValue(v any) any {
	switch x := v.(type) {
	case table.Object:
		m := map[string]any{}
		for _, f := range x {
			m[f.Key] = pyJSONValue(f.Value)
		}
		return m
	case float64:
		if missing(x) {
			return nil
		}
	}
	return v
}

// checkKinds rejects a column whose values mix kinds (strings and numbers,
// say): str() would format them inconsistently, and it usually means a
// malformed record.
func checkKinds(recs []ref, cols []string) error {
	for _, c := range cols {
		var first ref
		kind := ""
		for _, x := range recs {
			v := x.get(c)
			if missing(v) {
				continue
			}
			k := table.Kind(v)
			if kind == "" {
				kind, first = k, x
				continue
			}
			if k != kind {
				return fmt.Errorf("%s: column %q holds a %s (%s), but %s holds a %s: mixed types in one column", x.where(), c, k, short(v), first.where(), kind)
			}
		}
	}
	return nil
}

func short(v any) string {
	s := []rune(suite.PyRepr(pyValue(v)))
	if len(s) > 40 {
		return string(s[:40]) + "…"
	}
	return string(s)
}

func uniq(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, c := range l {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

func quoteAll(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
