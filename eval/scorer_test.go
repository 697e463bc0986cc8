package eval

import (
	"context"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/suite"
)

var sharedModels = filepath.Join("..", "..", "shared", "models")

var (
	storiesOnce  sync.Once
	storiesModel *llama.Model
	storiesErr   error
)

func stories(t testing.TB) *llama.Model {
	t.Helper()
	storiesOnce.Do(func() {
		storiesModel, storiesErr = llama.LoadModel(filepath.Join(sharedModels, "stories260K.gguf"), llama.ModelParams{})
	})
	if storiesErr != nil {
		t.Fatal(storiesErr)
	}
	return storiesModel
}

// flightTask prepares n flight rows in the colon format, cut after example
// index 2.
func flightTask(t testing.TB, m *llama.Model, n int) *SteerTask { return flightTaskK(t, m, n, 2) }

func flightTaskK(t testing.TB, m *llama.Model, n, k int) *SteerTask {
	t.Helper()
	task, err := suite.Lookup("flight")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := task.Generate(7, n)
	if err != nil {
		t.Fatal(err)
	}
	st, err := PrepareSteer(format.NewColon(), m, "flight", rows, SteerOptions{K: k})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func rowTokens(st *SteerTask) []format.Tokens {
	out := make([]format.Tokens, len(st.Rows))
	for i, r := range st.Rows {
		out[i] = r.Tokens
	}
	return out
}

// referenceScores scores a row token by token (one token per decode, the
// full log-softmax each time) with an independent f32 context.
func referenceScores(t *testing.T, m *llama.Model, tk format.Tokens) map[int][2]float64 {
	t.Helper()
	ctx, err := llama.NewContext(m, llama.ContextParams{NCtx: 2048, NBatch: 16, NSeqMax: 1, Threads: 1, KVType: "f32"})
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	b, err := llama.NewBatch(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := map[int][2]float64{} // example index → (NLL, all correct)
	var lsm []float32
	for p := 0; p+1 < len(tk.IDs); p++ {
		b.Clear()
		if _, err := b.Add(tk.IDs[p], llama.Pos(p), []llama.SeqID{0}, true); err != nil {
			t.Fatal(err)
		}
		if err := ctx.Decode(b); err != nil {
			t.Fatal(err)
		}
		if !tk.Loss[p+1] {
			continue
		}
		if lsm, err = ctx.LogSoftmax(0, lsm); err != nil {
			t.Fatal(err)
		}
		next := tk.IDs[p+1]
		best := 0
		for v := range lsm {
			if lsm[v] > lsm[best] {
				best = v
			}
		}
		e := tk.ExampleIndex[p+1]
		cur, ok := out[e]
		if !ok {
			cur[1] = 1
		}
		cur[0] -= float64(lsm[next])
		if best != int(next) {
			cur[1] = 0
		}
		out[e] = cur
	}
	return out
}

func newScorer(t testing.TB, m *llama.Model, o ScorerOptions) *Scorer {
	t.Helper()
	o.Threads = 1
	if o.KVType == "" {
		o.KVType = "f32"
	}
	s, err := NewScorer(m, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestScorerMatchesTokenByToken(t *testing.T) {
	m := stories(t)
	st := flightTask(t, m, 30)
	rows := rowTokens(st)[:3]
	s := newScorer(t, m, ScorerOptions{})
	got, err := s.Score(context.Background(), rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	for r := range rows {
		want := referenceScores(t, m, rows[r])
		if len(got[r].Outputs) != len(want) || len(want) != st.K+1 {
			t.Fatalf("row %d: %d outputs, reference %d, k+1 = %d", r, len(got[r].Outputs), len(want), st.K+1)
		}
		for _, o := range got[r].Outputs {
			w := want[o.ExampleIndex]
			if math.Abs(o.Loss-w[0]) > 1e-3 {
				t.Errorf("row %d output %d: NLL %.6f, token by token %.6f", r, o.ExampleIndex, o.Loss, w[0])
			}
			if o.AllAcc != w[1] {
				t.Errorf("row %d output %d: all_acc %v, token by token %v", r, o.ExampleIndex, o.AllAcc, w[1])
			}
		}
	}
}

func TestScorerPackingAndLabelledLogits(t *testing.T) {
	m := stories(t)
	st := flightTask(t, m, 12)
	rows := rowTokens(st)
	single := newScorer(t, m, ScorerOptions{NSeqMax: 1})
	a, err := single.Score(context.Background(), rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	packed := newScorer(t, m, ScorerOptions{NSeqMax: 16})
	b, err := packed.Score(context.Background(), rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := newScorer(t, m, ScorerOptions{NSeqMax: 16, AllLogits: true})
	c, err := all.Score(context.Background(), rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	shared := newScorer(t, m, ScorerOptions{NSeqMax: 16, SharedKV: true})
	d, err := shared.Score(context.Background(), rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	if packed.Decodes >= single.Decodes {
		t.Errorf("packing did not reduce decodes: %d packed, %d single", packed.Decodes, single.Decodes)
	}
	t.Logf("%d rows, %d tokens: %d decodes single, %d packed", len(rows), single.Tokens, single.Decodes, packed.Decodes)
	maxDiff := func(x, y []RowScore) float64 {
		d := 0.0
		for r := range x {
			if len(x[r].Outputs) != len(y[r].Outputs) {
				t.Fatalf("row %d: %d vs %d outputs", r, len(x[r].Outputs), len(y[r].Outputs))
			}
			for j := range x[r].Outputs {
				o, p := x[r].Outputs[j], y[r].Outputs[j]
				d = math.Max(d, math.Abs(o.Loss-p.Loss))
				if o.AllAcc != p.AllAcc || o.Acc != p.Acc || o.FirstAcc != p.FirstAcc || o.Tokens != p.Tokens {
					t.Errorf("row %d output %d: %+v vs %+v", r, j, o, p)
				}
			}
		}
		return d
	}
	if d := maxDiff(a, b); d > 1e-4 {
		t.Errorf("packing changed NLLs by up to %g", d)
	} else {
		t.Logf("packed vs single: max NLL difference %g", d)
	}
	if d := maxDiff(a, d); d > 1e-4 {
		t.Errorf("packing in one shared KV buffer changed NLLs by up to %g", d)
	}
	// On ggml's kernels the two are bit-identical. With BLAS (llama.BLAS),
	// the output matmul runs on BLAS only with ≥ 32 rows, so the
	// labelled-only head (fewer rows) may take the other kernel: the NLLs
	// then differ by rounding, a few 1e-6 (measured
	// 6.5e-6 on stories260K).
	tol := 0.0
	if lib, _ := llama.BLAS(); lib != "" {
		tol = 1e-4
	}
	if d := maxDiff(b, c); d > tol {
		t.Errorf("labelled-only logits differ from all logits by up to %g", d)
	}
}

// TestSharedSelection: a k and rows chosen beforehand (SelectK, as Run does
// once for a comparison) are what PrepareSteer evaluates, in any format:
// the same rows, cut after the same example index, with the format k was
// chosen in recorded; without one, PrepareSteer's own choice is SelectK's.
func TestSharedSelection(t *testing.T) {
	m := stories(t)
	task, _ := suite.Lookup("flight")
	rows, err := task.Generate(7, 30)
	if err != nil {
		t.Fatal(err)
	}
	colon := format.NewColon()
	sel, err := SelectK(colon, m, "flight", rows, 0)
	if err != nil {
		t.Fatal(err)
	}
	own, err := PrepareSteer(colon, m, "flight", rows, SteerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if own.K != sel.K || len(own.Rows) != len(sel.Keep) || own.KFormat != "colon" {
		t.Fatalf("PrepareSteer chose k %d over %d rows, SelectK %d over %d", own.K, len(own.Rows), sel.K, len(sel.Keep))
	}
	given := &Selection{K: 2, Keep: []int{1, 4, 9}, Format: "spectrum"}
	st, err := PrepareSteer(colon, m, "flight", rows, SteerOptions{Selection: given})
	if err != nil {
		t.Fatal(err)
	}
	if st.K != 2 || st.KFormat != "spectrum" || len(st.Rows) != 3 || st.Rows[1].Index != 4 {
		t.Fatalf("given selection: k %d (%s), rows %+v", st.K, st.KFormat, st.Rows)
	}
	for _, r := range st.Rows {
		if n := r.Tokens.NumExamples(); n != 3 || !r.Tokens.Loss[len(r.Tokens.Loss)-1] {
			t.Errorf("row %d: %d scored outputs (want 3, cut right after index 2)", r.Index, n)
		}
	}
	if _, err := PrepareSteer(colon, m, "flight", rows, SteerOptions{Selection: &Selection{K: 2, Keep: []int{30}}}); err == nil {
		t.Error("a selected row beyond the task's rows: no error")
	}
}
