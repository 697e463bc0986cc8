package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/models"
)

func init() { register(newAdapterCmd) }

func newAdapterCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "adapter export|import",
		Short: "Convert LoRA adapters between llama.cpp's GGUF and PEFT (Hugging Face, vLLM)",
		Long: `adapter export writes a LoRA adapter GGUF as a PEFT adapter directory
(adapter_config.json and adapter_model.safetensors) that PEFT and vLLM load on
the Hugging Face model the base GGUF came from; adapter import converts such a
directory back into a GGUF for a base model.

Only the attention and FFN projections of the decoder layers convert (q, k, v,
o, gate, up, down), at one rank and one alpha. llama.cpp's converter permutes
the rows of q and k for the llama architecture; export undoes that and import
applies it, so both need the base model there (--base). Import refuses what a
LoRA GGUF cannot hold: DoRA, rsLoRA, modules_to_save, rank or alpha patterns,
biases.`,
	}
	cmd.AddCommand(newAdapterExportCmd(g), newAdapterImportCmd(g))
	return cmd
}

func newAdapterExportCmd(g *globalOptions) *cobra.Command {
	var to, base string
	cmd := &cobra.Command{
		Use:   "export ADAPTER.gguf --to peft DIR [--base BASE.gguf]",
		Short: "Write a LoRA adapter GGUF as a PEFT adapter directory",
		Example: `  spectrum adapter export tuned.gguf --to peft tuned-peft --base gemma-3-270m.gguf
  # then, in Python: PeftModel.from_pretrained(model, "tuned-peft")`,
		Args: exactArgs(2, "ADAPTER.gguf DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to != "peft" {
				return fmt.Errorf("--to %q: the only target is peft", to)
			}
			if err := models.ExportPEFT(args[0], base, args[1]); err != nil {
				return err
			}
			g.logf("wrote %s/%s and %s", args[1], models.PEFTConfigFile, models.PEFTWeightsFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "peft", "target format: peft")
	cmd.Flags().StringVar(&base, "base", "", "the base model GGUF (needed for llama-architecture adapters; names the base in the config)")
	return cmd
}

func newAdapterImportCmd(g *globalOptions) *cobra.Command {
	var base, out string
	cmd := &cobra.Command{
		Use:     "import PEFT_DIR --base BASE.gguf -o ADAPTER.gguf",
		Short:   "Convert a PEFT LoRA adapter directory into a LoRA adapter GGUF",
		Example: `  spectrum adapter import trl-run/checkpoint-500 --base SmolLM2-135M-Instruct.Q4_1.gguf -o trl.gguf`,
		Args:    exactArgs(1, "PEFT_DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := models.ImportPEFT(args[0], base, out); err != nil {
				return err
			}
			g.logf("wrote %s", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&base, "base", "", "the base model GGUF the adapter was trained on")
	cmd.Flags().StringVarP(&out, "output", "o", "", "adapter GGUF to write")
	_ = cmd.MarkFlagRequired("base")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}
