package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/internal/progress"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/sample"
)

func init() {
	register(newInfoCmd)
	register(newTokenizeCmd)
	register(newGenerateCmd)
	register(newQuantizeCmd)
	register(newDevicesCmd)
}

// checkThreads rejects an explicit --threads below 1 (0 is only the
// unset default, meaning automatic).
func (g *globalOptions) checkThreads(cmd *cobra.Command) error {
	if f := cmd.Flags().Lookup("threads"); f != nil && f.Changed && g.Threads < 1 {
		return fmt.Errorf("--threads must be ≥ 1, got %d (leave it out for the automatic choice)", g.Threads)
	}
	return nil
}

// loadModel loads a GGUF model with the global GPU setting.
func (g *globalOptions) loadModel(path string, vocabOnly bool) (*llama.Model, error) {
	return llama.LoadModel(path, llama.ModelParams{GPULayers: g.GPULayers, VocabOnly: vocabOnly})
}

// turnToken is one of the chat family's turn tokens and its id.
type turnToken struct {
	Text string `json:"text"`
	ID   int    `json:"id"`
}

// modelInfoJSON is the stable JSON shape of `spectrum info --json`.
type modelInfoJSON struct {
	Path              string            `json:"path"`
	Architecture      string            `json:"architecture"`
	Name              string            `json:"name"`
	Family            string            `json:"family"`
	Params            uint64            `json:"params"`
	TensorBytes       uint64            `json:"tensor_bytes"`
	FileType          string            `json:"file_type"`
	TensorTypes       map[string]int    `json:"tensor_types"`
	ContextLength     uint64            `json:"context_length"`
	EmbeddingLength   uint64            `json:"embedding_length"`
	FeedForwardLength uint64            `json:"feed_forward_length"`
	BlockCount        uint64            `json:"block_count"`
	HeadCount         uint64            `json:"head_count"`
	HeadCountKV       uint64            `json:"head_count_kv"`
	VocabSize         int               `json:"vocab_size"`
	Tokenizer         string            `json:"tokenizer"`
	SpecialTokens     map[string]*int   `json:"special_tokens"`
	TurnTokens        []turnToken       `json:"turn_tokens"`
	AddBOS            bool              `json:"add_bos"`
	ChatTemplate      string            `json:"chat_template"`
	Extra             map[string]string `json:"llama_cpp,omitempty"`
}

func newInfoCmd(g *globalOptions) *cobra.Command {
	var asJSON, load, template bool
	var model, base string
	cmd := &cobra.Command{
		Use:   "info MODEL.gguf|ADAPTER.gguf",
		Short: "Show what a GGUF file is: a model (architecture, size, tokenizer, chat family) or a LoRA adapter",
		Long: `info reads a GGUF file's metadata and tensor table in pure Go (no weights are
loaded) and prints a summary; --load also loads it with llama.cpp and reports
its own description and where the layers live; --template prints the model's
chat template as it is.

On a LoRA adapter it says so and lists its targets, rank, alpha, base
architecture and the spectrum.* record that tune writes into every adapter
(base model and its sha256, format, tasks, hyper-parameters, steps);
--base BASE.gguf checks that the adapter fits that base as llama.cpp will
(architecture, every adapted tensor and its shape) and whether it is the
very file it was trained on (sha256).`,
		Example: `  spectrum info ../shared/models/stories260K.gguf
  spectrum info --json model.gguf | jq .family
  spectrum info --template SmolLM2-135M-Instruct.Q4_1.gguf
  spectrum info adapter.gguf --base base.gguf`,
		Args: modelArgs(1, "MODEL.gguf (or -m)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			args = withModel(model, args)
			f, err := models.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if models.IsAdapter(f) {
				if template || load {
					return fmt.Errorf("%s is a LoRA adapter: --template and --load apply to models", args[0])
				}
				return adapterInfo(cmd.OutOrStdout(), f, base, asJSON)
			}
			if base != "" {
				return fmt.Errorf("--base checks an adapter against its base; %s is a model", args[0])
			}
			in := models.InfoOf(f)
			if template {
				if in.ChatTemplate == "" {
					return fmt.Errorf("%s has no chat template (tokenizer.chat_template): a base model; chat needs one, generate and sample do not", args[0])
				}
				_, err := io.WriteString(cmd.OutOrStdout(), strings.TrimSuffix(in.ChatTemplate, "\n")+"\n")
				return err
			}
			out := infoJSON(in)
			if load {
				m, err := g.loadModel(args[0], false)
				if err != nil {
					return err
				}
				defer m.Close()
				out.Extra = map[string]string{
					"description": m.Description(),
					"size_bytes":  fmt.Sprint(m.Size()),
					"gpu_layers":  gpuLayersText(g.GPULayers, m.NLayer()),
					"system_info": llama.SystemInfo(),
				}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			return printInfo(cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.Flags().BoolVar(&load, "load", false, "also load the model with llama.cpp")
	cmd.Flags().BoolVar(&template, "template", false, "print the chat template as it is")
	cmd.Flags().StringVar(&base, "base", "", "with an adapter: check it against this base model")
	addModelFlag(cmd, &model)
	return cmd
}

// writeJSON writes v as indented JSON without HTML escaping (chat templates
// and token pieces keep their < and >).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// adapterCheck is the result of info --base.
type adapterCheck struct {
	Base       string `json:"base"`
	Fits       bool   `json:"fits"`
	Error      string `json:"error,omitempty"`
	SHA256     string `json:"sha256"`
	SameSHA256 *bool  `json:"same_sha256,omitempty"` // nil: the adapter records no base sha256
}

// adapterInfo prints what an adapter is and, with base, whether it fits.
func adapterInfo(w io.Writer, f *models.File, base string, asJSON bool) error {
	a, err := models.DescribeAdapter(f)
	if err != nil {
		return err
	}
	var check *adapterCheck
	if base != "" {
		bf, err := models.Open(base)
		if err != nil {
			return err
		}
		defer bf.Close()
		check = &adapterCheck{Base: base, Fits: true}
		if _, err := models.InspectLoRA(bf, f); err != nil {
			check.Fits, check.Error = false, err.Error()
		}
		if check.SHA256, err = models.FileSHA256(base); err != nil {
			return err
		}
		if want, ok := a.Provenance["base.sha256"]; ok {
			same := want == check.SHA256
			check.SameSHA256 = &same
		}
	}
	if asJSON {
		return writeJSON(w, struct {
			Type string `json:"type"`
			*models.AdapterInfo
			BaseCheck *adapterCheck `json:"base_check,omitempty"`
		}{"adapter", a, check})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("path", a.Path)
	row("type", "LoRA adapter ("+a.AdapterType+"): load it with --lora, fold it in with merge")
	row("base architecture", a.Architecture)
	row("targets", strings.Join(a.Targets, " "))
	row("layers", a.Layers)
	ranks := make([]string, len(a.Ranks))
	for i, r := range a.Ranks {
		ranks[i] = strconv.Itoa(r)
	}
	row("rank", strings.Join(ranks, ", "))
	row("alpha", a.Alpha)
	if len(a.TokenRows) > 0 {
		how := "LoRA pairs on token_embd and output"
		if models.HasTokenRows(f) {
			how = "for a tied embedding: llama.cpp cannot load them, fold them in with merge"
		}
		row("token rows", fmt.Sprintf("%d trained (%s)", len(a.TokenRows), how))
	}
	row("parameters", humanCount(a.Params))
	keys := slices.Sorted(maps.Keys(a.Provenance))
	if len(keys) == 0 {
		row("provenance", "none (not written by spectrum tune)")
	}
	for _, k := range keys {
		row("spectrum."+k, a.Provenance[k])
	}
	if check != nil {
		switch {
		case !check.Fits:
			row("base check", "does NOT fit "+base+": "+check.Error)
		default:
			row("base check", "fits "+base+" (architecture, tensors, shapes)")
		}
		switch {
		case check.SameSHA256 == nil:
			row("base sha256", check.SHA256+" (the adapter records none)")
		case *check.SameSHA256:
			row("base sha256", check.SHA256+" (the file it was trained on)")
		case check.Fits:
			row("base sha256", check.SHA256+" (trained on "+a.Provenance["base.sha256"]+": another file of this model?)")
		default:
			row("base sha256", check.SHA256+" (trained on "+a.Provenance["base.sha256"]+")")
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if check != nil && !check.Fits {
		return fmt.Errorf("%s does not fit %s", a.Path, base)
	}
	return nil
}

func gpuLayersText(req, nLayer int) string {
	if !llama.SupportsGPUOffload() || req == 0 {
		return fmt.Sprintf("0 of %d (all on the CPU)", nLayer)
	}
	if req < 0 || req > nLayer {
		req = nLayer
	}
	return fmt.Sprintf("%d of %d on the GPU", req, nLayer)
}

func infoJSON(in *models.Info) modelInfoJSON {
	tt := map[string]int{}
	for _, s := range in.TensorTypes {
		tt[s.Type.String()] = s.Tensors
	}
	tok := func(id int) *int {
		if id < 0 {
			return nil
		}
		return &id
	}
	turns := []turnToken{}
	for _, text := range in.Family.TurnTokens() {
		if id, ok := in.TokenID(text); ok {
			turns = append(turns, turnToken{text, id})
		}
	}
	ft := in.FileTypeName
	if ft == "" && in.FileType >= 0 {
		ft = fmt.Sprint(in.FileType)
	}
	return modelInfoJSON{
		Path: in.Path, Architecture: in.Architecture, Name: in.Name, Family: string(in.Family),
		Params: in.Params, TensorBytes: in.TensorBytes, FileType: ft, TensorTypes: tt,
		ContextLength: in.ContextLength, EmbeddingLength: in.EmbeddingLength, FeedForwardLength: in.FeedForwardLength,
		BlockCount: in.BlockCount, HeadCount: in.HeadCount, HeadCountKV: in.HeadCountKV, VocabSize: in.VocabSize,
		Tokenizer:     in.TokenizerModel,
		SpecialTokens: map[string]*int{"bos": tok(in.BOS), "eos": tok(in.EOS), "eot": tok(in.EOT), "pad": tok(in.PAD), "unk": tok(in.UNK)},
		TurnTokens:    turns,
		AddBOS:        in.AddBOS, ChatTemplate: in.ChatTemplate,
	}
}

func printInfo(w io.Writer, o modelInfoJSON) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("path", o.Path)
	row("architecture", o.Architecture)
	row("name", o.Name)
	fam := o.Family
	if fam == "" {
		fam = "none (no chat turn tokens; the colon format applies)"
	}
	row("chat family", fam)
	row("parameters", humanCount(o.Params))
	row("tensor bytes", humanBytes(o.TensorBytes))
	row("file type", o.FileType)
	var types []string
	for k, v := range o.TensorTypes {
		types = append(types, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(types)
	row("tensor types", strings.Join(types, " "))
	row("context length", o.ContextLength)
	row("embedding", o.EmbeddingLength)
	row("feed forward", o.FeedForwardLength)
	row("layers", o.BlockCount)
	row("heads / kv heads", fmt.Sprintf("%d / %d", o.HeadCount, o.HeadCountKV))
	row("vocabulary", fmt.Sprintf("%d (%s)", o.VocabSize, o.Tokenizer))
	var sp []string
	for _, k := range []string{"bos", "eos", "eot", "pad", "unk"} {
		if id := o.SpecialTokens[k]; id != nil {
			sp = append(sp, fmt.Sprintf("%s=%d", k, *id))
		}
	}
	row("special tokens", strings.Join(sp, " "))
	if len(o.TurnTokens) > 0 {
		var ts []string
		for _, t := range o.TurnTokens {
			ts = append(ts, fmt.Sprintf("%s=%d", t.Text, t.ID))
		}
		row("turn tokens", strings.Join(ts, " "))
	}
	row("adds BOS", o.AddBOS)
	tmpl := "none"
	if o.ChatTemplate != "" {
		tmpl = fmt.Sprintf("%d characters", len(o.ChatTemplate))
	}
	row("chat template", tmpl)
	keys := make([]string, 0, len(o.Extra))
	for k := range o.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row("llama.cpp "+strings.ReplaceAll(k, "_", " "), o.Extra[k])
	}
	return tw.Flush()
}

func humanCount(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB (%d)", float64(n)/1e9, n)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM (%d)", float64(n)/1e6, n)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK (%d)", float64(n)/1e3, n)
	}
	return fmt.Sprint(n)
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func newTokenizeCmd(g *globalOptions) *cobra.Command {
	var noSpecial, asJSON bool
	var model string
	cmd := &cobra.Command{
		Use:   "tokenize MODEL.gguf TEXT",
		Short: "Show the tokens of a text (ids and pieces)",
		Long: `tokenize prints one token per line: its id and its piece. By default BOS is
added as the model's tokenizer does and special-token texts such as
<|im_start|> become their ids; --no-special turns both off.`,
		Example: `  spectrum tokenize ../shared/models/stories260K.gguf "Once upon a time"
  spectrum tokenize --json model.gguf "<|im_start|>user"`,
		Args: modelArgs(2, "MODEL.gguf (or -m) and TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			args = withModel(model, args)
			m, err := g.loadModel(args[0], true)
			if err != nil {
				return err
			}
			defer m.Close()
			ids, err := m.Tokenize(args[1], !noSpecial, !noSpecial)
			if err != nil {
				return err
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			defer w.Flush()
			if asJSON {
				pieces := make([]string, len(ids))
				for i, id := range ids {
					pieces[i] = m.TokenToPiece(id)
				}
				enc := json.NewEncoder(w)
				enc.SetEscapeHTML(false)
				return enc.Encode(map[string]any{"ids": ids, "pieces": pieces})
			}
			for _, id := range ids {
				fmt.Fprintf(w, "%6d  %q\n", id, m.TokenToPiece(id))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noSpecial, "no-special", false, "add no BOS and treat special-token texts as plain text")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ids": […], "pieces": […]}`)
	addModelFlag(cmd, &model)
	return cmd
}

// generateFlags are generate's flags, named as llama.cpp's llama-cli and
// llama-completion name them where the meaning is the same.
type generateFlags struct {
	model, prompt, file string
	n, nctx             int
	sp                  llama.SamplerParams
	seed                uint32
	stop, lora          []string
	kv, ctk, ctv, flash string
	timings             bool
}

func newGenerateCmd(g *globalOptions) *cobra.Command {
	o := &generateFlags{}
	cmd := &cobra.Command{
		Use:   "generate MODEL.gguf",
		Short: "Generate text from a prompt (streams to stdout)",
		Long: `generate tokenizes the prompt (BOS added as the model does, special-token
texts parsed), then samples up to -n tokens and streams them to stdout. It
stops early at an end-of-generation token or a --stop string (-r,
--reverse-prompt). --temp 0 is greedy decoding. Timings (prompt and
generation tokens/s, as llama.cpp prints them) go to stderr unless --quiet.

Flags follow llama.cpp's names (-m, -p, -f, -n/--n-predict, -c/--ctx-size,
-s/--seed, -t/--threads, -ngl/--n-gpu-layers, -fa/--flash-attn, -ctk/-ctv,
--lora, --lora-scaled FILE SCALE, --temp, --top-k, --top-p, --min-p,
--repeat-penalty, -r/--reverse-prompt). Where our defaults differ: top-k 0,
top-p 1 and min-p 0 (llama.cpp: 40, 0.95, 0.05) and no repeat penalty, so
--temp alone gives the model's own distribution; -n 128 (llama.cpp: until
the context fills).`,
		Example: `  spectrum generate ../shared/models/stories260K.gguf -n 200 --temp 0
  spectrum generate -m model.gguf -p "Once upon a time" -n 64 --temp 0.8 -s 1
  echo "Q: capital of France? A:" | spectrum generate model.gguf -f - -n 8 --temp 0 -r "\n"
  spectrum generate base.gguf --lora tuned.gguf -p "..." -ngl 99`,
		Args: modelArgs(1, "MODEL.gguf (or -m)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGenerate(cmd, g, o, withModel(o.model, args)[0])
		},
	}
	f := cmd.Flags()
	addModelFlag(cmd, &o.model)
	f.StringVarP(&o.prompt, "prompt", "p", "", "prompt text (empty: start from BOS)")
	f.StringVarP(&o.file, "file", "f", "", "read the prompt from this file (- for stdin)")
	f.IntVarP(&o.n, "n", "n", 128, "tokens to generate (alias --n-predict)")
	f.Float32Var(&o.sp.Temp, "temp", 0.8, "temperature (0: greedy)")
	f.IntVar(&o.sp.TopK, "top-k", 0, "keep the k most likely tokens (0: off; llama.cpp's default is 40)")
	f.Float32Var(&o.sp.TopP, "top-p", 1, "nucleus sampling mass (1: off; llama.cpp's default is 0.95)")
	f.Float32Var(&o.sp.MinP, "min-p", 0, "drop tokens below this fraction of the top probability (0: off; llama.cpp's default is 0.05)")
	f.Float32Var(&o.sp.RepeatPenalty, "repeat-penalty", 1, "penalize tokens repeated in the last --repeat-last-n (1: off)")
	f.IntVar(&o.sp.RepeatLastN, "repeat-last-n", 64, "window of the repeat penalty")
	f.Uint32VarP(&o.seed, "seed", "s", 1, "random seed")
	f.IntVarP(&o.nctx, "ctx", "c", 0, "context size (0: prompt + n; alias --ctx-size)")
	f.StringArrayVarP(&o.stop, "stop", "r", nil, "stop when the text ends with this string (repeatable; alias --reverse-prompt)")
	f.StringArrayVar(&o.lora, "lora", nil, "LoRA adapter FILE[:SCALE] (repeatable; --lora-scaled FILE SCALE also works)")
	f.StringVar(&o.kv, "kv-type", "", "KV cache type: f16, f32 or q8_0 (alias -ctk/-ctv; default as sample)")
	f.StringVar(&o.ctk, "cache-type-k", "", "llama.cpp's -ctk (K and V share one type here)")
	f.StringVar(&o.ctv, "cache-type-v", "", "llama.cpp's -ctv (K and V share one type here)")
	f.StringVar(&o.flash, "flash-attn", "", "flash attention: on, off or auto (-fa; default as sample)")
	f.BoolVar(&o.timings, "timings", true, "print llama.cpp-style timings to stderr")
	f.MarkHidden("cache-type-k")
	f.MarkHidden("cache-type-v")
	setAliases(cmd, map[string]string{"n-predict": "n", "ctx-size": "ctx", "reverse-prompt": "stop"})
	return cmd
}

func runGenerate(cmd *cobra.Command, g *globalOptions, o *generateFlags, modelPath string) error {
	yieldCoresToGGML()
	if o.n < 1 {
		return fmt.Errorf("-n must be ≥ 1, got %d", o.n)
	}
	if o.nctx < 0 {
		return fmt.Errorf("--ctx must be ≥ 0, got %d", o.nctx)
	}
	if err := checkSampling(o.sp.Temp, o.sp.TopP, o.sp.MinP, o.sp.TopK); err != nil {
		return err
	}
	if err := cmp.Or(checkRange("repeat-penalty", float64(o.sp.RepeatPenalty), 0, math.Inf(1)), checkRange("repeat-last-n", float64(o.sp.RepeatLastN), 0, math.Inf(1))); err != nil {
		return err
	}
	kv, err := kvTypeFlags(o.kv, o.ctk, o.ctv)
	if err != nil {
		return err
	}
	if o.flash != "" && !isFlashValue(o.flash) {
		return fmt.Errorf("--flash-attn must be on, off or auto, got %q", o.flash)
	}
	adapters, err := parseLoRA(o.lora)
	if err != nil {
		return err
	}
	prompt := o.prompt
	if o.file != "" {
		if cmd.Flags().Changed("prompt") {
			return fmt.Errorf("give the prompt with -p or with -f, not both")
		}
		if prompt, err = readPrompt(o.file, cmd.InOrStdin()); err != nil {
			return err
		}
	}
	for _, s := range o.stop {
		if s == "" {
			return fmt.Errorf("--stop: an empty string would stop at once")
		}
	}
	m, err := g.loadModel(modelPath, false)
	if err != nil {
		return err
	}
	defer m.Close()
	toks, err := m.Tokenize(prompt, true, true)
	if err != nil {
		return err
	}
	if len(toks) == 0 {
		if m.BOS() == llama.NoToken {
			return fmt.Errorf("empty prompt and %s has no BOS token to start from", modelPath)
		}
		toks = []llama.Token{m.BOS()}
	}
	nctx := o.nctx
	if nctx == 0 {
		nctx = len(toks) + o.n
	}
	// The sampler's flash-attention and KV defaults, so that greedy
	// `sample` and `generate` compute alike.
	cp := llama.ContextParams{NCtx: nctx, NBatch: min(max(len(toks), 32), 2048), Threads: g.threads(m.NParams()),
		FlashAttention: cmp.Or(o.flash, sample.DefaultFlashAttention(m, kv)), KVType: cmp.Or(kv, sample.DefaultKVType(m)), LoRA: len(adapters) > 0}
	ctx, err := llama.NewContext(m, cp)
	if err != nil {
		return err
	}
	defer ctx.Close()
	ads, err := sample.LoadAdapters(m, adapters)
	if err != nil {
		return err
	}
	defer func() {
		for _, a := range ads {
			a.Close()
		}
	}()
	if err := sample.AttachAdapters(ctx, ads, adapters); err != nil {
		return err
	}
	sp := o.sp
	sp.Seed = o.seed
	s, err := llama.NewSampler(m, sp)
	if err != nil {
		return err
	}
	defer s.Close()
	w := bufio.NewWriter(cmd.OutOrStdout())
	defer w.Flush()
	var tm llama.Timings
	out := stopWriter{w: w, stop: o.stop}
	_, err = ctx.Generate(cmd.Context(), toks, llama.GenerateParams{MaxTokens: o.n, Sampler: s, Timings: &tm}, func(t llama.Token) bool {
		return out.add(m.TokenToPiece(t))
	})
	out.flush()
	if err != nil {
		return err
	}
	if err := w.WriteByte('\n'); err != nil {
		return err
	}
	if o.timings && !g.Quiet {
		w.Flush()
		rate := func(n int, d time.Duration) string {
			if d <= 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", float64(n)/d.Seconds())
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "prompt eval: %d tokens in %.2f ms (%s tokens/s)\ngeneration:  %d tokens in %.2f ms (%s tokens/s)\n",
			tm.PromptTokens, float64(tm.Prompt.Microseconds())/1000, rate(tm.PromptTokens, tm.Prompt),
			tm.Sampled, float64(tm.TotalGeneration.Microseconds())/1000, rate(tm.Sampled, tm.TotalGeneration))
	}
	return nil
}

// stopWriter streams generated text and stops at the first --stop string,
// which is not printed: text that could be the start of a stop string is
// held back until the next piece decides.
type stopWriter struct {
	w       *bufio.Writer
	stop    []string
	text    string
	printed int
	pieces  int
}

// add appends a piece and reports whether generation goes on.
func (s *stopWriter) add(piece string) bool {
	s.text += piece
	for _, st := range s.stop {
		if i := strings.Index(s.text[max(0, s.printed-len(st)):], st); i >= 0 {
			end := max(0, s.printed-len(st)) + i
			if end > s.printed {
				s.w.WriteString(s.text[s.printed:end])
			}
			s.printed = len(s.text)
			return false
		}
	}
	hold := 0 // the longest end of the text that begins a stop string
	for _, st := range s.stop {
		for k := min(len(st)-1, len(s.text)-s.printed); k > hold; k-- {
			if strings.HasSuffix(s.text, st[:k]) {
				hold = k
				break
			}
		}
	}
	s.w.WriteString(s.text[s.printed : len(s.text)-hold])
	s.printed = len(s.text) - hold
	if s.pieces++; s.pieces%8 == 0 {
		s.w.Flush()
	}
	return true
}

// flush prints what was held back when generation ended without a stop.
func (s *stopWriter) flush() {
	for _, st := range s.stop {
		if strings.Contains(s.text, st) {
			return
		}
	}
	s.w.WriteString(s.text[s.printed:])
	s.printed = len(s.text)
}

func newQuantizeCmd(g *globalOptions) *cobra.Command {
	var pure, requant bool
	cmd := &cobra.Command{
		Use:   "quantize IN.gguf OUT.gguf TYPE",
		Short: "Quantize a GGUF model with llama.cpp's quantizer",
		Long: `quantize writes a quantized copy of a model (the input is never modified; the
output appears only when complete). TYPE is one of: ` + strings.Join(llama.QuantTypes(), ", ") + `.
Matrix rows must be multiples of the type's block size (32 for q8_0/q4_0, 256
for k-quants).`,
		Example: `  spectrum quantize model-f32.gguf model-q8_0.gguf q8_0
  spectrum quantize model-f16.gguf model-q4_k_m.gguf q4_k_m`,
		Args: exactArgs(3, "IN.gguf OUT.gguf TYPE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.checkThreads(cmd); err != nil {
				return err
			}
			if err := outfile.Check(args[1], args[0]); err != nil {
				return err
			}
			end := progress.Phase(cmd.ErrOrStderr(), "quantizing to "+strings.ToLower(args[2]), g.Quiet)
			err := llama.QuantizeContext(cmd.Context(), args[0], args[1], args[2], llama.QuantizeParams{Threads: g.Threads, Pure: pure, AllowRequantize: requant})
			end()
			if err != nil {
				return err
			}
			st, err := os.Stat(args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\n", args[1], strings.ToLower(args[2]), humanBytes(uint64(st.Size())))
			return nil
		},
	}
	cmd.Flags().BoolVar(&pure, "pure", false, "quantize every matrix to TYPE (no higher-precision output/embedding)")
	cmd.Flags().BoolVar(&requant, "allow-requantize", false, "allow an already quantized input (the two roundings' errors add up)")
	return cmd
}

func newDevicesCmd(g *globalOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the compute devices llama.cpp can use",
		Long: `devices lists every ggml device: the CPU backend compiled in, and GPU backends
loaded at run time from $SPECTRUM_BACKEND_PATH or <dir of the executable>/lib
and <dir of the executable>/../lib (see make cuda), and the BLAS accelerator when
OpenBLAS is installed (libopenblas.so.0; $SPECTRUM_BLAS=off turns it off, or names
another CBLAS library).`,
		Example: `  spectrum devices
  SPECTRUM_BACKEND_PATH=/opt/spectrum/lib spectrum devices --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			devs := llama.Devices()
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), devs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tMEMORY\tDESCRIPTION")
			for _, d := range devs {
				mem := "-"
				if d.MemoryTotal > 0 {
					mem = fmt.Sprintf("%s free of %s", humanBytes(d.MemoryFree), humanBytes(d.MemoryTotal))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, d.Type, mem, d.Description)
			}
			tw.Flush()
			fmt.Fprintln(cmd.OutOrStdout(), "blas:", blasLine())
			fmt.Fprintln(cmd.OutOrStdout(), "system:", llama.SystemInfo())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
