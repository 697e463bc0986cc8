package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/models"
)

func init() { register(newTransplantCmd) }

type transplantOptions struct {
	Base   string
	Donor  string
	Tokens string
	Output string
}

func newTransplantCmd(g *globalOptions) *cobra.Command {
	o := &transplantOptions{}
	cmd := &cobra.Command{
		Use:   "transplant --base BASE.gguf --donor INSTRUCT.gguf [--tokens auto|TOK,…] -o OUT.gguf",
		Short: "Copy the chat-format tokens' embedding and output rows from an instruct model into a base model",
		Long: `transplant does the Spectrum reference's weight transfer: the token-embedding
(token_embd.weight) and output (output.weight) rows of the chat format's turn
tokens are copied from an instruct model (the donor) into its base model, so the
format tokens keep their instruct meaning while every other weight stays
pretrained. Everything else — other rows, other tensors, metadata, tokenizer — is
the base's.

--tokens auto (the default) takes the turn tokens of the donor's detected chat
family (e.g. <start_of_turn>,<end_of_turn> for Gemma 3, <|im_start|>,<|im_end|>
for ChatML); otherwise give the token texts, comma-separated. Each token must
have the same id and text in both vocabularies, and the tensors the same shape.

Quantized tensors are handled row by row: a row is whole quantization blocks,
so rows of the same type are copied byte for byte; if the donor's type differs,
its rows are decoded and re-encoded in the base's type (F32, F16, BF16, Q8_0 and
Q4_0 can be written; F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K read). A donor
with a tied output gives its embedding rows to an untied base output.

A new file is written atomically; the inputs are never modified.`,
		Example: `  # Gemma 3: base pt model, instruct donor, turn tokens detected
  spectrum transplant --base gemma-3-1b-pt-q8_0.gguf --donor gemma-3-1b-it-q8_0.gguf -o gemma-3-1b-pt-turns.gguf

  # name the tokens explicitly
  spectrum transplant --base Qwen3-0.6B-Base.gguf --donor Qwen3-0.6B.gguf --tokens '<|im_start|>,<|im_end|>' -o base-turns.gguf`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTransplant(cmd, g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Base, "base", "", "base (pretrained) GGUF model")
	f.StringVar(&o.Donor, "donor", "", "instruct GGUF model to take the rows from")
	f.StringVar(&o.Tokens, "tokens", "auto", "tokens to copy: auto (the donor's chat-family turn tokens) or TOK,TOK,…")
	f.StringVarP(&o.Output, "output", "o", "", "GGUF file to write")
	for _, name := range []string{"base", "donor", "output"} {
		_ = cmd.MarkFlagRequired(name)
	}
	f.SortFlags = false
	return cmd
}

func runTransplant(cmd *cobra.Command, g *globalOptions, o *transplantOptions) error {
	var opts models.TransplantOptions
	if t := strings.TrimSpace(o.Tokens); t != "" && t != "auto" {
		for _, tok := range strings.Split(t, ",") {
			if tok == "" {
				return fmt.Errorf("--tokens %q: empty token text", o.Tokens)
			}
			opts.Tokens = append(opts.Tokens, tok)
		}
	} else if t == "" {
		return errors.New("--tokens must be auto or a comma-separated list of token texts")
	}
	if err := outfile.Check(o.Output, o.Base, o.Donor); err != nil {
		return err
	}
	start := time.Now()
	g.logf("transplanting rows from %s into %s", o.Donor, o.Base)
	res, err := models.Transplant(o.Base, o.Donor, o.Output, opts)
	if err != nil {
		return err
	}
	for _, n := range res.Notes {
		g.logf("note: %s", n)
	}
	for _, t := range res.Tensors {
		how := "copied raw " + t.Type.String() + " rows"
		if t.Requantized {
			how = fmt.Sprintf("re-encoded %v rows as %v", t.DonorType, t.Type)
		}
		g.logf("%s ← donor %s: %s", t.Name, t.Source, how)
	}
	g.logf("done in %s", time.Since(start).Round(time.Millisecond))

	out := cmd.OutOrStdout()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	var names []string
	for _, t := range res.Tensors {
		names = append(names, t.Name)
	}
	fmt.Fprintf(tw, "token\tid\ttensors\n")
	for i, tok := range res.Tokens {
		fmt.Fprintf(tw, "%q\t%d\t%s\n", tok, res.IDs[i], strings.Join(names, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	st, err := os.Stat(o.Output)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s: %d tokens × %d tensors from the donor, %d bytes\n", o.Output, len(res.Tokens), len(res.Tensors), st.Size())
	return err
}
