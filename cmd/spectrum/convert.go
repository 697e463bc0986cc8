package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/models"
)

func init() { register(newConvertCmd) }

// newConvertCmd groups the converters from other checkpoint formats to GGUF.
func newConvertCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Convert other model formats to GGUF",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newConvertLlama2cCmd(g))
	return cmd
}

type convertLlama2cOptions struct {
	Checkpoint string
	Tokenizer  string
	Output     string
	Context    uint32
	Name       string
}

func newConvertLlama2cCmd(_ *globalOptions) *cobra.Command {
	o := &convertLlama2cOptions{}
	cmd := &cobra.Command{
		Use:   "llama2c --checkpoint MODEL.bin --tokenizer TOKENIZER.bin -o OUT.gguf",
		Short: "Convert a llama2.c checkpoint and tokenizer to GGUF",
		Long: `llama2c converts a legacy llama2.c checkpoint (the 7-int32 header format of
karpathy/llama2.c, e.g. stories260K.bin) and its tokenizer.bin (e.g. tok512.bin)
into an F32 GGUF file, exactly as llama.cpp's convert-llama2c-to-ggml does: the
same metadata (context length 2048, <s>/</s> specials, <0xNN> byte tokens, "▁" for
spaces) and the same tensors, with the shared classifier written as output.weight.

The output is written atomically and may not be one of the inputs.`,
		Example: `  spectrum convert llama2c --checkpoint stories260K.bin --tokenizer tok512.bin -o stories260K.gguf`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConvertLlama2c(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Checkpoint, "checkpoint", "", "llama2.c checkpoint (legacy format), e.g. stories260K.bin")
	f.StringVar(&o.Tokenizer, "tokenizer", "", "llama2.c tokenizer.bin, e.g. tok512.bin")
	f.StringVarP(&o.Output, "output", "o", "", "GGUF file to write")
	f.Uint32Var(&o.Context, "ctx", 2048, "context length to record (llama.cpp's converter writes 2048)")
	f.StringVar(&o.Name, "name", "llama", "general.name to record")
	for _, name := range []string{"checkpoint", "tokenizer", "output"} {
		_ = cmd.MarkFlagRequired(name)
	}
	f.SortFlags = false
	return cmd
}

func runConvertLlama2c(cmd *cobra.Command, o *convertLlama2cOptions) error {
	if o.Context == 0 {
		return errors.New("--ctx must be at least 1")
	}
	if err := outfile.Check(o.Output, o.Checkpoint, o.Tokenizer); err != nil {
		return err
	}
	start := time.Now()
	log.Info("converting llama2.c checkpoint", "checkpoint", o.Checkpoint, "tokenizer", o.Tokenizer)
	c, err := models.ConvertLlama2c(o.Checkpoint, o.Tokenizer, o.Output, models.Llama2cOptions{ContextLength: o.Context, Name: o.Name})
	if err != nil {
		return err
	}
	log.Info("read checkpoint", "dim", c.Dim, "hidden", c.HiddenDim, "layers", c.NLayers,
		"heads", c.NHeads, "kv_heads", c.NKVHeads, "vocab", c.VocabSize, "shared_classifier", c.Shared)
	st, err := os.Stat(o.Output)
	if err != nil {
		return err
	}
	log.Info("done", "elapsed", time.Since(start).Round(time.Millisecond))
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: llama, %d layers, n_embd %d, vocab %d, %d bytes\n",
		o.Output, c.NLayers, c.Dim, c.VocabSize, st.Size())
	return err
}
