package tune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/internal/testmodels"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/lora"
	"github.com/spectrumkit/spectrum/models"
)

// The side-by-side with the reference stack (issue 21): the same token rows
// (spectrum format, coinflip/poisson/normal/categorical, ≤ 256 tokens, one
// row per step) trained by PEFT on transformers (weights dequantized from
// the same GGUF to F32; scripts/peft_bench.py in the `make pypeer` venv) and
// by our trainer, and run forward by transformers and scored by llama.cpp.
// Every run is its own process, so that each peak RSS is its own; ours runs
// with the default BLAS library (oneMKL after `make mkl`, else OpenBLAS),
// with OpenBLAS, and without BLAS (SPECTRUM_BLAS=off), the baseline of the
// same run.
const (
	benchWarmup = 2  // rows before timing starts (graph allocation, first-touch)
	benchRows   = 16 // timed rows
)

// benchResult is what each side prints.
type benchResult struct {
	Mode    string  `json:"mode"`
	Threads int     `json:"threads"`
	Tokens  int     `json:"tokens"`
	Seconds float64 `json:"seconds"`
	TokPerS float64 `json:"tok_per_s"`
	BLAS    string  `json:"blas,omitempty"`
	RSSMiB  float64 `json:"-"` // from the child's rusage
	Loss    float64 `json:"first_loss"`
}

// BenchmarkVsPEFT runs on Gemma 3 270M (gemma3, one K/V head, a 262k
// vocabulary) and SmolLM2-135M-Instruct (llama, 9/3 heads, 49k vocabulary).
func BenchmarkVsPEFT(b *testing.B) {
	for _, m := range []struct {
		name string
		path func(testing.TB) string
	}{{"gemma", testmodels.Gemma}, {"smollm2", testmodels.SmolLM2}} {
		b.Run(m.name, func(b *testing.B) { benchVsPEFT(b, m.path(b)) })
	}
}

func benchVsPEFT(b *testing.B, model string) {
	py := testmodels.PyPeerPython(b)
	rows := writeBenchRows(b, model)
	script, err := filepath.Abs("../scripts/peft_bench.py")
	if err != nil {
		b.Fatal(err)
	}
	for _, threads := range []int{1, 2} {
		for _, mode := range []string{"train", "forward"} {
			b.Run(fmt.Sprintf("%s/threads=%d", mode, threads), func(b *testing.B) {
				peft := runBench(b, exec.Command(py, script, "--gguf", model, "--rows", rows,
					"--threads", strconv.Itoa(threads), "--mode", mode, "--warmup", strconv.Itoa(benchWarmup)), nil)
				self := func(blas string, mode string) benchResult {
					cmd := exec.Command(os.Args[0], "-test.run=^TestBenchChild$", "-test.v")
					return runBench(b, cmd, []string{"SPECTRUM_BENCH_CHILD=" + mode, "SPECTRUM_BENCH_MODEL=" + model,
						"SPECTRUM_BENCH_ROWS=" + rows, "SPECTRUM_BENCH_THREADS=" + strconv.Itoa(threads), llama.BLASEnv + "=" + blas})
				}
				ours, openBLAS, noBLAS := self("", mode), self("libopenblas.so.0", mode), self("off", mode)
				if mode == "forward" {
					// Scoring as eval does it, against the same forward of theirs.
					score := self("", "score")
					b.ReportMetric(score.TokPerS, "ours_score_tok/s")
					b.ReportMetric(score.TokPerS/peft.TokPerS, "score/peft")
					b.Logf("scoring (logits only where a labelled token follows): %.1f tok/s, %.2f× transformers' forward", score.TokPerS, score.TokPerS/peft.TokPerS)
				}
				b.ReportMetric(peft.TokPerS, "peft_tok/s")
				b.ReportMetric(ours.TokPerS, "ours_tok/s")
				b.ReportMetric(noBLAS.TokPerS, "ours_noblas_tok/s")
				b.ReportMetric(openBLAS.TokPerS, "ours_openblas_tok/s")
				b.ReportMetric(ours.TokPerS/peft.TokPerS, "ours/peft")
				b.ReportMetric(ours.TokPerS/noBLAS.TokPerS, "blas/noblas")
				b.ReportMetric(peft.RSSMiB, "peft_rss_MiB")
				b.ReportMetric(ours.RSSMiB, "ours_rss_MiB")
				// Both start from B = 0, i.e. the base model's loss on the first
				// row: transformers on F32 weights dequantized from the GGUF, ours
				// on the same F32 values (DequantBackward) — they must agree to
				// float rounding (measured 4.1893 both; 1e-3 relative allows
				// ggml's F16-table GELU against PyTorch's exact one).
				if mode == "train" && math.Abs(peft.Loss-ours.Loss) > 1e-3*peft.Loss {
					b.Errorf("first-row loss: PEFT %.6f, spectrum %.6f", peft.Loss, ours.Loss)
				}
				b.Logf("%s, %d thread(s): PEFT/transformers %.1f tok/s (%.0f MiB, first loss %.4f); spectrum %.1f tok/s (%.0f MiB, first loss %.4f, BLAS %q), with OpenBLAS %.1f tok/s (%.0f MiB), without BLAS %.1f tok/s (%.0f MiB)",
					mode, threads, peft.TokPerS, peft.RSSMiB, peft.Loss, ours.TokPerS, ours.RSSMiB, ours.Loss, ours.BLAS, openBLAS.TokPerS, openBLAS.RSSMiB, noBLAS.TokPerS, noBLAS.RSSMiB)
			})
		}
	}
}

// runBench runs one side and reads its JSON line and peak RSS.
func runBench(b *testing.B, cmd *exec.Cmd, env []string) benchResult {
	b.Helper()
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%v: %v\n%s%s", cmd.Args, err, out, tail(stderr.String(), 2000))
	}
	var r benchResult
	found := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &r) == nil {
			found = true
		}
	}
	if !found {
		b.Fatalf("%v printed no result:\n%s", cmd.Args, out)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.RSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return r
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// writeBenchRows writes the token rows both sides read, as `suite export
// --to tokens` does (labels −100 where unscored).
func writeBenchRows(b *testing.B, model string) string {
	b.Helper()
	info, err := models.ReadInfo(model)
	if err != nil {
		b.Fatal(err)
	}
	m, err := llama.LoadModel(model, llama.ModelParams{VocabOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	f, err := format.ForModel(format.NameAuto, info.Family, m)
	if err != nil {
		b.Fatal(err)
	}
	tasks, err := ResolveTasks([]string{"coinflip", "poisson", "normal", "categorical"})
	if err != nil {
		b.Fatal(err)
	}
	rows, _, err := PrepareRows(m, f, tasks, nil, RowOptions{Seed: 21, RowsPerTask: 8, MaxLength: 256, DescriptionProb: -1})
	if err != nil {
		b.Fatal(err)
	}
	if len(rows) < benchWarmup+benchRows {
		b.Fatalf("%d rows, want %d", len(rows), benchWarmup+benchRows)
	}
	path := filepath.Join(b.TempDir(), "rows.jsonl")
	var buf bytes.Buffer
	for _, r := range rows[:benchWarmup+benchRows] {
		labels := make([]int32, len(r.Tokens))
		for i, t := range r.Tokens {
			labels[i] = -100
			if i > 0 && r.Loss[i] {
				labels[i] = t
			}
		}
		line, _ := json.Marshal(map[string]any{"input_ids": r.Tokens, "labels": labels})
		buf.Write(append(line, '\n'))
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// TestBenchChild is our side of BenchmarkVsPEFT, run in its own process;
// without SPECTRUM_BENCH_CHILD it does nothing.
func TestBenchChild(t *testing.T) {
	mode := os.Getenv("SPECTRUM_BENCH_CHILD")
	if mode == "" {
		t.Skip("the child process of BenchmarkVsPEFT")
	}
	model, rowsPath := os.Getenv("SPECTRUM_BENCH_MODEL"), os.Getenv("SPECTRUM_BENCH_ROWS")
	threads, _ := strconv.Atoi(os.Getenv("SPECTRUM_BENCH_THREADS"))
	data, err := os.ReadFile(rowsPath)
	if err != nil {
		t.Fatal(err)
	}
	var rows []lora.Row
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var r struct {
			IDs    []int32 `json:"input_ids"`
			Labels []int32 `json:"labels"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		row := lora.Row{Tokens: r.IDs, Loss: make([]bool, len(r.IDs))}
		for i, l := range r.Labels {
			row.Loss[i] = l >= 0
		}
		rows = append(rows, row)
	}
	res := benchResult{Mode: mode, Threads: threads}
	res.BLAS, _ = llama.BLAS()
	var elapsed time.Duration
	switch mode {
	case "train":
		cfg := lora.DefaultConfig()
		cfg.Threads, cfg.MaxSeqLen = threads, 256
		info, err := models.ReadInfo(model)
		if err != nil {
			t.Fatal(err)
		}
		cfg.DequantBackward = lora.AutoDequantBackward(info.Params, false) // what tune does
		tr, err := lora.NewTrainer(model, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		for i, r := range rows {
			s := time.Now()
			st, err := tr.Step([]lora.Row{r})
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				res.Loss = st.Loss
			}
			if i >= benchWarmup {
				elapsed += time.Since(s)
				res.Tokens += len(r.Tokens)
			}
		}
	case "forward", "score":
		m, err := llama.LoadModel(model, llama.ModelParams{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		ctx, err := llama.NewContext(m, llama.ContextParams{NCtx: 256, NBatch: 256, Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		defer ctx.Close()
		batch, err := llama.NewBatch(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer batch.Close()
		for i, r := range rows {
			s := time.Now()
			ctx.MemoryClear()
			batch.Clear()
			// forward: logits at every position, as transformers' forward
			// gives them; score: only where the next token is labelled, as
			// eval steer computes an output's NLL (the same numbers).
			want := func(p int) bool { return mode == "forward" || (p+1 < len(r.Loss) && r.Loss[p+1]) }
			for p, tok := range r.Tokens {
				if _, err := batch.Add(llama.Token(tok), llama.Pos(p), []llama.SeqID{0}, want(p)); err != nil {
					t.Fatal(err)
				}
			}
			if err := ctx.Decode(batch); err != nil {
				t.Fatal(err)
			}
			for p := range r.Tokens {
				if !want(p) {
					continue
				}
				var err error
				if mode == "score" {
					_, err = ctx.LogSoftmax(p, nil)
				} else {
					_, err = ctx.Logits(p)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if i >= benchWarmup {
				elapsed += time.Since(s)
				res.Tokens += len(r.Tokens)
			}
		}
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	res.Seconds = elapsed.Seconds()
	res.TokPerS = float64(res.Tokens) / res.Seconds
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
}
