package main

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/internal/progress"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/remote"
	"github.com/spectrumkit/spectrum/sample"
	"github.com/spectrumkit/spectrum/suite"
)

func init() { register(newSampleCmd) }

// maxLoRAScale bounds |SCALE| in --lora FILE:SCALE: adapters are trained
// for scale 1, and far beyond a few units the adapted weights overflow
// (1e30 gave NaN logits and empty completions).
const maxLoRAScale = 100

// parseLoRA parses FILE[:SCALE] adapter specs (scale defaults to 1; a
// suffix that is not a number is part of the path). The scale must be
// finite and |SCALE| ≤ maxLoRAScale.
func parseLoRA(specs []string) ([]sample.AdapterSpec, error) {
	var out []sample.AdapterSpec
	for _, s := range specs {
		path, scale := s, 1.0
		if i := strings.LastIndex(s, ":"); i >= 0 {
			if v, err := strconv.ParseFloat(s[i+1:], 64); err == nil || errors.Is(err, strconv.ErrRange) {
				path, scale = s[:i], v
			}
		}
		if path == "" {
			return nil, fmt.Errorf("--lora %q: no adapter path (want FILE[:SCALE])", s)
		}
		if math.IsNaN(scale) || math.IsInf(scale, 0) || math.Abs(scale) > maxLoRAScale {
			return nil, fmt.Errorf("--lora %s: SCALE must be a finite number in [-%d, %d], got %s", s, maxLoRAScale, maxLoRAScale, s[strings.LastIndex(s, ":")+1:])
		}
		out = append(out, sample.AdapterSpec{Path: path, Scale: float32(scale)})
	}
	return out, nil
}

type sampleOptions struct {
	formatName, description, input, raw, rowsPath string
	examples, lora                                []string
	req                                           sample.Request
	parallel                                      int
	jsonl, count                                  bool
	kv                                            string
	unified                                       bool
	flash                                         string
	out, model, file, ctk, ctv                    string
	stop                                          []string
	remote                                        remoteOptions
}

func newSampleCmd(g *globalOptions) *cobra.Command {
	o := &sampleOptions{}
	cmd := &cobra.Command{
		Use:   "sample MODEL.gguf",
		Short: "Draw many completions of a prompt (shared prompt cache, parallel slots)",
		Long: `sample draws -n completions of one prompt, or of every row of a JSONL file,
decoding the prompt once and --parallel completions at a time.

The prompt is built from --description, --example (each an output) and
--input, rendered in the model's format (--format auto picks the Spectrum
format when the model has its family's turn tokens, else the colon format),
or given raw with -p (or -f FILE, - for stdin). Sampling defaults are neutral
(temperature 1, no top-k, top-p or min-p), as distribution measurements need;
llama.cpp's are top-k 40, top-p 0.95, min-p 0.05, which cut the distribution's
tail. Completions stop at the
format's stop string, the model's end-of-generation tokens or --max-tokens;
--first-line keeps only the stripped first line (the coverage protocol).

Output: one completion per line (newlines shown as \n); --jsonl writes
{"row","task","index","text","tokens","finish","logprob"} records; --count
prints the distribution of distinct outputs with its entropy. The same command
with the same --seed and --parallel gives the same output.

-o FILE appends JSONL records to FILE as they are drawn and resumes: a re-run
with the same FILE draws only the completions not in it yet, so a killed job
loses nothing.

--server URL samples on an OpenAI-compatible server (vLLM, SGLang, llama.cpp's
llama-server, llama-cpp-python) instead: the prompt is rendered here (MODEL.gguf
gives the format and tokenizer; its weights are not loaded) and sent as text,
--concurrency requests at a time, each retried with backoff on 429/5xx and
dropped connections. Each request has its own seed; servers' samplers differ
from ours, so remote and local draws differ (their distributions agree).`,
		Example: `  spectrum sample model.gguf --description "A US state" -e Ohio -e Utah -n 200 --count
  spectrum sample ../shared/models/stories260K.gguf -p "Once upon a time" -n 8 --max-tokens 24
  spectrum suite generate coinflip --rows 5 -o rows.jsonl && spectrum sample model.gguf --rows rows.jsonl -n 50 --jsonl
  spectrum sample model.gguf --rows rows.jsonl -n 100 --server http://gpu-box:8000 --concurrency 32 -o samples.jsonl`,
		Args: modelArgs(1, "MODEL.gguf (or -m)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSample(cmd, g, o, withModel(o.model, args)[0])
		},
	}
	f := cmd.Flags()
	addModelFlag(cmd, &o.model)
	f.StringVar(&o.formatName, "format", "auto", "prompt format: auto, spectrum, colon or chat")
	f.StringVar(&o.description, "description", "", "description of the distribution to sample from")
	f.StringArrayVarP(&o.examples, "example", "e", nil, "an example output (repeatable)")
	f.StringVar(&o.input, "input", "", "input to condition the next output on")
	f.StringVarP(&o.raw, "prompt", "p", "", "raw prompt text instead of formatted messages")
	f.StringVarP(&o.file, "file", "f", "", "read the raw prompt from this file (- for stdin)")
	f.StringArrayVarP(&o.stop, "stop", "r", nil, "also stop at this string (repeatable; alias --reverse-prompt)")
	f.StringVar(&o.rowsPath, "rows", "", "JSONL rows: sample the next output of each row")
	f.IntVarP(&o.req.N, "n", "n", 100, "completions per prompt")
	f.IntVar(&o.req.MaxTokens, "max-tokens", 32, "new tokens per completion (alias --n-predict)")
	f.Float32Var(&o.req.Temp, "temp", 1, "temperature (0: greedy)")
	f.Float32Var(&o.req.TopP, "top-p", 1, "nucleus sampling mass (1: off)")
	f.IntVar(&o.req.TopK, "top-k", 0, "keep the k most likely tokens (0: off)")
	f.Float32Var(&o.req.MinP, "min-p", 0, "drop tokens below this fraction of the top probability (0: off)")
	f.Uint64VarP(&o.req.Seed, "seed", "s", 0, "random seed")
	f.IntVar(&o.parallel, "parallel", 0, "completions decoded together (0: min(n, 32))")
	f.BoolVar(&o.req.FirstLine, "first-line", false, "keep only the stripped first line of each completion")
	f.BoolVar(&o.req.LogProbs, "logprobs", false, "report each completion's summed log-probability")
	f.StringArrayVar(&o.lora, "lora", nil, "LoRA adapter FILE[:SCALE] (repeatable)")
	f.StringVar(&o.kv, "kv-type", "", "KV cache type: f16, f32 or q8_0 (default: f32 under 20M parameters, else f16; alias -ctk/-ctv)")
	f.StringVar(&o.ctk, "cache-type-k", "", "llama.cpp's -ctk (K and V share one type here)")
	f.StringVar(&o.ctv, "cache-type-v", "", "llama.cpp's -ctv (K and V share one type here)")
	f.MarkHidden("cache-type-k")
	f.MarkHidden("cache-type-v")
	f.StringVar(&o.flash, "flash-attn", "", "llama.cpp flash attention: off, on or auto (default: chosen by model, see README)")
	f.BoolVar(&o.unified, "unified-kv", false, "share one KV buffer between slots (less memory; slower with many slots)")
	f.BoolVar(&o.jsonl, "jsonl", false, "write JSONL records")
	f.BoolVar(&o.count, "count", false, "print the distribution of distinct outputs")
	f.StringVarP(&o.out, "output", "o", "", "append JSONL records to this file and resume from it")
	addRemoteFlags(f, &o.remote)
	cmd.MarkFlagsMutuallyExclusive("jsonl", "count")
	cmd.MarkFlagsMutuallyExclusive("prompt", "rows", "file")
	setAliases(cmd, map[string]string{"n-predict": "max-tokens", "reverse-prompt": "stop"})
	return cmd
}

func runSample(cmd *cobra.Command, g *globalOptions, o *sampleOptions, modelPath string) error {
	yieldCoresToGGML()
	if err := g.checkThreads(cmd); err != nil {
		return err
	}
	if err := checkSampling(o.req.Temp, o.req.TopP, o.req.MinP, o.req.TopK); err != nil {
		return err
	}
	if err := cmp.Or(checkRange("n", float64(o.req.N), 1, math.Inf(1)), checkRange("max-tokens", float64(o.req.MaxTokens), 1, math.Inf(1))); err != nil {
		return err
	}
	if err := o.req.Validate(); err != nil && !strings.Contains(err.Error(), "empty prompt") {
		return err
	}
	if o.parallel < 0 {
		return fmt.Errorf("--parallel must be ≥ 1 (0 for automatic), got %d", o.parallel)
	}
	adapters, err := parseLoRA(o.lora)
	if err != nil {
		return err
	}
	if o.kv, err = kvTypeFlags(o.kv, o.ctk, o.ctv); err != nil {
		return err
	}
	if o.file != "" {
		if o.raw, err = readPrompt(o.file, cmd.InOrStdin()); err != nil {
			return err
		}
		if o.raw == "" {
			return fmt.Errorf("--file %s: the prompt is empty", o.file)
		}
	}
	for _, s := range o.stop {
		if s == "" {
			return fmt.Errorf("--stop: an empty string would stop at once")
		}
	}
	remoteRun := o.remote.enabled()
	if remoteRun {
		switch {
		case len(adapters) > 0:
			return fmt.Errorf("--lora with --server: adapters are loaded by the server (serve the merged model or the adapter there)")
		case o.req.LogProbs:
			return fmt.Errorf("--logprobs with --server: not supported (servers report log-probabilities after their own truncation)")
		}
	}
	info, err := models.ReadInfo(modelPath)
	if err != nil {
		return err
	}
	m, err := g.loadModel(modelPath, remoteRun)
	if err != nil {
		return err
	}
	defer m.Close()

	var jobs []sample.Prompt
	stop := append([]string{}, o.stop...)
	var stopToks []llama.Token
	if o.raw != "" && cmd.Flags().Changed("format") {
		return fmt.Errorf("--format applies to prompts built from --description/--example/--input or --rows; -p is sent as it is")
	}
	if o.raw != "" {
		toks, err := m.Tokenize(o.raw, true, true)
		if err != nil {
			return err
		}
		jobs = append(jobs, sample.Prompt{Row: 0, Tokens: toks})
	} else {
		f, err := format.ForModel(o.formatName, info.Family, m)
		if err != nil {
			return err
		}
		if o.formatName == format.NameAuto {
			g.logf("format: %s", format.Describe(f))
		}
		var rows [][]format.Message
		var tasks []string
		if o.rowsPath != "" {
			rs, err := suite.ReadRowsFile(o.rowsPath)
			if err != nil {
				return err
			}
			for _, r := range rs {
				rows = append(rows, format.Messages(r.Messages))
				tasks = append(tasks, r.Task)
			}
		} else {
			msgs, err := flagMessages(o.description, o.examples, o.input)
			if err != nil {
				return err
			}
			rows, tasks = [][]format.Message{msgs}, []string{""}
		}
		var fst sample.Stop
		if jobs, fst, err = sample.FormatPrompts(m, f, rows, tasks); err != nil {
			return err
		}
		stop, stopToks = append(stop, fst.Strings...), fst.Tokens
	}

	var cl *remote.Client
	if remoteRun {
		if cl, err = o.remote.client(cmd.Context(), g); err != nil {
			return err
		}
		if err := remote.CheckTokenizer(cmd.Context(), cl, m, jobs[0].Tokens); err != nil {
			return err
		}
	}
	var file *sample.File
	if o.out != "" {
		set, err := o.settings(modelPath, adapters, jobs, cl)
		if err != nil {
			return err
		}
		inputs := []string{o.rowsPath, modelPath}
		for _, a := range adapters {
			inputs = append(inputs, a.Path)
		}
		if file, err = sample.OpenFile(o.out, inputs, set, "n"); err != nil {
			return err
		}
		defer file.Close()
	}
	total := len(jobs) * o.req.N
	if file != nil {
		for _, j := range jobs {
			total -= file.Done(j.Row, o.req.N)
		}
		if total < len(jobs)*o.req.N {
			g.logf("resuming %s: %d of %d completions drawn already", o.out, len(jobs)*o.req.N-total, len(jobs)*o.req.N)
		}
	}
	bar := progress.New(cmd.ErrOrStderr(), total, "sampling", "completions", g.Quiet)
	var all []sample.Completion
	w := bufio.NewWriter(cmd.OutOrStdout())
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	start := time.Now()
	done, tokens := 0, 0
	emit := func(c sample.Completion) error {
		if file != nil && file.Has(c.Row, c.Index) {
			return nil // drawn by an earlier run (local seeds repeat it exactly)
		}
		done++
		tokens += c.Tokens
		if remoteRun {
			bar.Set(done, fmt.Sprintf("%.1f completions/s", float64(done)/math.Max(time.Since(start).Seconds(), 1e-9)))
		} else {
			bar.Set(done, fmt.Sprintf("%.0f tok/s", float64(tokens)/math.Max(time.Since(start).Seconds(), 1e-9)))
		}
		switch {
		case file != nil:
			return file.Add(c)
		case o.count:
			all = append(all, c)
		case o.jsonl:
			if err := enc.Encode(c); err != nil {
				return err
			}
		default:
			fmt.Fprintln(w, strings.ReplaceAll(c.Text, "\n", `\n`))
		}
		if done%16 == 0 {
			return w.Flush() // keep what is done visible if interrupted
		}
		return nil
	}
	if remoteRun {
		rjobs := make([]remote.SampleJob, len(jobs))
		for i, j := range jobs {
			rjobs[i] = remote.SampleJob{Row: j.Row, Task: j.Task, N: o.req.N, Prompt: o.raw}
			if o.raw == "" {
				rjobs[i].Prompt = remote.PromptText(m, j.Tokens)
			}
			if file != nil {
				row := j.Row
				rjobs[i].Have = func(index int) bool { return file.Has(row, index) }
			}
		}
		for _, t := range stopToks {
			stop = append(stop, m.TokenToPiece(t))
		}
		err = cl.Sample(cmd.Context(), rjobs, remote.SampleParams{
			MaxTokens: o.req.MaxTokens, Temp: float64(o.req.Temp), TopP: float64(o.req.TopP), TopK: o.req.TopK, MinP: float64(o.req.MinP),
			Seed: o.req.Seed, Stop: stop, FirstLine: o.req.FirstLine, Concurrency: o.remote.concurrency,
			CountTokens: func(text string) int {
				ids, err := m.Tokenize(text, false, false)
				if err != nil {
					return 0
				}
				return len(ids)
			},
		}, emit)
		if err != nil {
			w.Flush()
			if file != nil {
				return fmt.Errorf("%w (the completions drawn so far are in %s; the same command resumes)", err, o.out)
			}
			return err
		}
	} else {
		e, err := sample.NewEngine(m, sample.Options{Parallel: o.parallel, Threads: g.threads(m.NParams()), Adapters: adapters, KVType: o.kv, UnifiedKV: o.unified, FlashAttention: o.flash})
		if err != nil {
			return err
		}
		defer e.Close()
		e.SetTotal(total)
		for _, j := range jobs {
			if file != nil && file.Done(j.Row, o.req.N) == o.req.N {
				continue
			}
			req := o.req
			req.Row, req.Task, req.Prompt, req.Stop, req.StopTokens = j.Row, j.Task, j.Tokens, stop, stopToks
			if err := e.Run(cmd.Context(), &req, emit); err != nil {
				w.Flush()
				return err
			}
		}
	}
	bar.Finish()
	if o.count {
		return printCounts(w, all)
	}
	return nil
}

// settings records what decides the draws of a sample run, for -o files:
// a resume with other settings is refused (sample.OpenFile). Files are
// identified by path, size and modification time (hashing a model for
// every run would cost seconds); prompts by the hash of their tokens.
func (o *sampleOptions) settings(modelPath string, adapters []sample.AdapterSpec, jobs []sample.Prompt, cl *remote.Client) (map[string]string, error) {
	id := func(p string) (string, error) {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		abs, _ := filepath.Abs(p)
		return fmt.Sprintf("%s (%d bytes, modified %s)", abs, fi.Size(), fi.ModTime().UTC().Format(time.RFC3339Nano)), nil
	}
	model, err := id(modelPath)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	for _, j := range jobs {
		fmt.Fprintf(h, "%d:%v\n", j.Row, j.Tokens)
	}
	var lora []string
	for _, a := range adapters {
		s, err := id(a.Path)
		if err != nil {
			return nil, err
		}
		lora = append(lora, fmt.Sprintf("%s scale %g", s, a.Scale))
	}
	r := o.req
	set := map[string]string{
		"model": model, "prompts_sha256": hex.EncodeToString(h.Sum(nil)), "prompts": strconv.Itoa(len(jobs)),
		"n": strconv.Itoa(r.N), "max_tokens": strconv.Itoa(r.MaxTokens), "seed": strconv.FormatUint(r.Seed, 10),
		"temp": fmt.Sprint(r.Temp), "top_p": fmt.Sprint(r.TopP), "top_k": strconv.Itoa(r.TopK), "min_p": fmt.Sprint(r.MinP),
		"first_line": strconv.FormatBool(r.FirstLine), "logprobs": strconv.FormatBool(r.LogProbs),
		"parallel": strconv.Itoa(o.parallel), "lora": strings.Join(lora, "; "),
		"kv_type": o.kv, "flash_attn": o.flash, "unified_kv": strconv.FormatBool(o.unified),
	}
	if cl != nil {
		set["server"], set["server_model"] = cl.URL(), cl.Model
	}
	return set, nil
}

// flagMessages builds the message list of --description/--example/--input.
func flagMessages(desc string, examples []string, input string) ([]format.Message, error) {
	var msgs []format.Message
	if desc != "" {
		msgs = append(msgs, format.Message{Role: format.RoleDescription, Content: desc})
	}
	for _, e := range examples {
		msgs = append(msgs, format.Message{Role: format.RoleOutput, Content: e})
	}
	if input != "" {
		msgs = append(msgs, format.Message{Role: format.RoleInput, Content: input})
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("nothing to prompt with: give --description, --example, --input, -p or --rows")
	}
	return msgs, nil
}

// printCounts prints distinct outputs by count with share and bar, then the
// number of distinct outputs and the entropy of the empirical distribution.
func printCounts(w io.Writer, cs []sample.Completion) error {
	counts := map[string]int{}
	for _, c := range cs {
		counts[c.Text]++
	}
	type kv struct {
		text string
		n    int
	}
	var rows []kv
	for t, n := range counts {
		rows = append(rows, kv{t, n})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].n != rows[j].n {
			return rows[i].n > rows[j].n
		}
		return rows[i].text < rows[j].text
	})
	total := float64(len(cs))
	var h float64
	for _, r := range rows {
		p := float64(r.n) / total
		h -= p * math.Log(p)
		fmt.Fprintf(w, "%6d  %5.1f%%  %-20s  %s\n", r.n, 100*p, strings.Repeat("█", int(math.Round(20*p))), strconv.Quote(r.text))
	}
	fmt.Fprintf(w, "%d distinct of %d; entropy %.3f nats (%.3f bits)\n", len(rows), len(cs), h, h/math.Ln2)
	return nil
}
