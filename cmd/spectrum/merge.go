package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/internal/progress"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
)

func init() { register(newMergeCmd) }

type mergeOptions struct {
	LoRA   []string
	Output string
	Type   string
	Pure   bool
}

func newMergeCmd(g *globalOptions) *cobra.Command {
	o := &mergeOptions{}
	cmd := &cobra.Command{
		Use:   "merge BASE.gguf --lora ADAPTER.gguf[:SCALE] … -o MERGED.gguf [--type same|f32|f16|q8_0|q4_k|…]",
		Short: "Fold LoRA adapters into a model's weights (a plain GGUF that runs anywhere llama.cpp runs)",
		Long: `merge folds one or more LoRA adapters into the base model's weights:
W' = W + scale·(alpha/r)·B·A for every adapted weight, with llama.cpp's tensor
conventions (token_embd's adapter is applied to the embedding rows), so that the
merged model computes what llama.cpp computes with the adapters attached at
those scales (--lora-scaled). SCALE defaults to 1.

The adapters are validated as llama.cpp does (general.type adapter, adapter.type
lora, the base's architecture, every base tensor present, shapes). Adapted base
tensors are decoded in pure Go (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K) and
merged in float32; the model is then written as --type with llama.cpp's
quantizer: same (the default) keeps the base's file type, f32 writes float32
weights directly, and any 'spectrum quantize' type works (f16, bf16, q8_0, q4_0,
q4_k, q6_k, …). Quantizing adds the usual quantization error.

A tied output (no output.weight) whose embedding an adapter changes is untied, as
llama.cpp applies embedding adapters to the input only. The inputs are never
modified.`,
		Example: `  # the F32 merge of an adapter attached at scale 1
  spectrum merge stories260K.gguf --lora tuned.gguf -o stories-tuned.gguf

  # half strength, quantized for deployment
  spectrum merge gemma-3-1b-pt.gguf --lora spectrum.gguf:0.5 -o gemma-spectrum-q8_0.gguf --type q8_0

  # two adapters, keeping the base's own quantization
  spectrum merge base-q4_k_m.gguf --lora a.gguf --lora b.gguf:0.3 -o merged-q4_k_m.gguf --type same`,
		Args: exactArgs(1, "BASE.gguf"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMerge(cmd, g, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.LoRA, "lora", nil, "LoRA adapter GGUF, optionally with :SCALE (repeatable)")
	f.StringVarP(&o.Output, "output", "o", "", "GGUF file to write")
	f.StringVar(&o.Type, "type", "same", "output type: same (the base's), f32, or a quantize type ("+strings.Join(llama.QuantTypes(), ", ")+")")
	f.BoolVar(&o.Pure, "pure", false, "quantize every matrix to --type (no higher-precision output/embedding in k-quant mixes)")
	_ = cmd.MarkFlagRequired("lora")
	_ = cmd.MarkFlagRequired("output")
	f.SortFlags = false
	return cmd
}

// parseLoRASpec splits ADAPTER.gguf[:SCALE]; a suffix that is not a number is
// part of the path.
func parseLoRASpec(s string) (models.MergeAdapter, error) {
	a, err := parseLoRA([]string{s})
	if err != nil {
		return models.MergeAdapter{}, err
	}
	return models.MergeAdapter{Path: a[0].Path, Scale: a[0].Scale}, nil
}

func runMerge(cmd *cobra.Command, g *globalOptions, basePath string, o *mergeOptions) error {
	var ads []models.MergeAdapter
	for _, s := range o.LoRA {
		ma, err := parseLoRASpec(s)
		if err != nil {
			return err
		}
		ads = append(ads, ma)
	}
	inputs := []string{basePath}
	for _, a := range ads {
		inputs = append(inputs, a.Path)
	}
	if err := outfile.Check(o.Output, inputs...); err != nil {
		return err
	}
	info, err := models.ReadInfo(basePath)
	if err != nil {
		return err
	}
	typ := strings.ToLower(o.Type)
	if typ == "same" {
		switch {
		case info.FileType < 0 || info.FileType == 0:
			typ = "f32"
		case info.FileTypeName == "":
			return fmt.Errorf("--type same: the base's file type %d is unknown; pass --type", info.FileType)
		default:
			typ = strings.ToLower(info.FileTypeName)
			if !slices.Contains(llama.QuantTypes(), typ) {
				return fmt.Errorf("--type same: the base's file type %s cannot be produced by the quantizer; pass --type", info.FileTypeName)
			}
		}
		g.logf("output type %s (the base's)", typ)
	} else if typ != "f32" && !slices.Contains(llama.QuantTypes(), typ) {
		return fmt.Errorf("--type %q: want same, f32 or one of %s", o.Type, strings.Join(llama.QuantTypes(), ", "))
	}

	start := time.Now()
	var bar *progress.Bar
	opts := models.MergeOptions{Adapters: ads, Type: models.TypeF32, Dequantize: true, Context: cmd.Context(),
		Progress: func(done, total int, name string) {
			log.Debug("wrote tensor", "tensor", name)
			if bar == nil {
				bar = progress.New(cmd.ErrOrStderr(), total, "merging", "tensors", g.Quiet)
			}
			bar.Set(done, name)
			if done == total {
				bar.Finish()
				bar = nil
			}
		}}
	report := func(res *models.MergeResult) {
		for _, a := range res.Adapters {
			g.logf("adapter %s: scale %g, alpha %g, rank %v, %d tensors, %d token rows", a.Path, a.Scale, a.Alpha, a.Ranks, a.Tensors, a.TokenRows)
		}
		for _, n := range res.Notes {
			g.logf("note: %s", n)
		}
	}
	var res *models.MergeResult
	if typ == "f32" {
		res, err = models.Merge(basePath, o.Output, opts)
		if err != nil {
			return err
		}
		report(res)
	} else {
		// Merge to a float32 file beside the output, then quantize it. With
		// --type same the untouched quantized tensors are kept as they are
		// (llama.cpp copies a tensor already of the type it chooses), and
		// decoded only if the quantizer refuses them.
		tmpName, remove, err := outfile.Temp(o.Output, ".f32.gguf")
		if err != nil {
			return err
		}
		defer remove()
		same := strings.EqualFold(o.Type, "same")
		opts.Dequantize = !same
		if res, err = models.Merge(basePath, tmpName, opts); err != nil {
			return err
		}
		report(res)
		end := progress.Phase(cmd.ErrOrStderr(), "quantizing to "+typ, g.Quiet)
		defer end() // on the error paths; Phase's end runs once
		// The intermediate file keeps the base's quantized tensors with
		// --type same: requantizing them is what llama.cpp copies unchanged.
		qp := llama.QuantizeParams{Threads: g.threads(info.Params), Pure: o.Pure, AllowRequantize: true}
		err = llama.QuantizeContext(cmd.Context(), tmpName, o.Output, typ, qp)
		if err != nil && same {
			g.logf("the quantizer refused the kept tensors (%v); decoding them too", err)
			opts.Dequantize = true
			if res, err = models.Merge(basePath, tmpName, opts); err != nil {
				return err
			}
			err = llama.QuantizeContext(cmd.Context(), tmpName, o.Output, typ, qp)
		}
		end()
		if err != nil {
			return err
		}
	}
	g.logf("done in %s", time.Since(start).Round(time.Millisecond))
	st, err := os.Stat(o.Output)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %d adapter(s) folded into %d tensors, type %s, %d bytes\n",
		o.Output, len(res.Adapters), len(res.Merged), typ, st.Size())
	return err
}
