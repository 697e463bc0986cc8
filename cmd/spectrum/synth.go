package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/models/synth"
)

func init() { register(newSynthCmd) }

func newSynthCmd(g *globalOptions) *cobra.Command {
	var (
		out, typ, arch, family string
		seed                   uint64
	)
	cmd := &cobra.Command{
		Use:   "synth PRESET -o OUT.gguf",
		Short: "Write a synthetic random-weight model of a real shape (for speed tests)",
		Long: `synth writes a model with random weights and a real architecture's shape, so
that speed and memory can be measured without downloading weights. Presets: ` + strings.Join(synth.Presets, ", ") + `
(135M has SmolLM2-135M's dimensions, 1B Llama-3.2-1B's). --type quantizes it
with llama.cpp (q8_0, q4_k_m, …). Its output is noise: never use it for quality.`,
		Example: `  spectrum synth 135M --type q8_0 -o smol135m-q8_0.gguf
  spectrum synth tiny --arch gemma3 --family gemma3 -o tiny-gemma.gguf`,
		Args: exactArgs(1, "a PRESET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := synth.Preset(args[0])
			if err != nil {
				return err
			}
			if err := outfile.Check(out); err != nil {
				return err
			}
			if arch != "" {
				cfg.Arch = arch
			}
			cfg.Seed = seed
			cfg.Context = cmd.Context()
			if family != "" {
				f, err := models.ParseFamily(family)
				if err != nil {
					return err
				}
				cfg.ExtraSpecialTokens = f.TurnTokens()
			}
			typ = strings.ToLower(typ)
			if typ == "f32" || typ == "f16" {
				cfg.F16 = typ == "f16"
				if err := synth.Write(out, cfg); err != nil {
					return err
				}
			} else {
				cfg.F16 = true
				tmp, remove, err := outfile.Temp(out, ".f16.gguf")
				if err != nil {
					return err
				}
				defer remove()
				if err := synth.Write(tmp, cfg); err != nil {
					return err
				}
				if err := cmd.Context().Err(); err != nil {
					return err
				}
				if err := llama.QuantizeContext(cmd.Context(), tmp, out, typ, llama.QuantizeParams{Threads: g.Threads}); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "GGUF file to write")
	cmd.Flags().StringVar(&typ, "type", "f32", "f32, f16, or a quantization type (q8_0, q4_k_m, …)")
	cmd.Flags().StringVar(&arch, "arch", "", "architecture instead of the preset's: llama, qwen2, qwen3, gemma3")
	cmd.Flags().StringVar(&family, "family", "", "add a chat family's turn tokens: gemma3, chatml, llama3, phi3")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "weight seed")
	cmd.MarkFlagRequired("output")
	return cmd
}
