package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/internal/progress"
	"github.com/spectrumkit/spectrum/suite"
)

type suiteExportOptions struct {
	model              string
	To, Format, Family string
	MaxLength          int
	Out                string
}

func newSuiteExportCmd(g *globalOptions) *cobra.Command {
	o := &suiteExportOptions{}
	cmd := &cobra.Command{
		Use:   "export MODEL.gguf ROWS.jsonl",
		Short: "Write rows as training data for other trainers (axolotl, TRL, token ids)",
		Long: `export renders rows in a format for a model (as tune does) and writes them as
training data for engines that train on many GPUs, with our loss masks:

  axolotl  axolotl's input_output type: {"segments": [{"label", "text"}, …]}; each
           segment tokenizes on its own to our tokens (the BOS written as text
           first, the final EOS as an unlabelled segment), so the masks are
           exactly ours (use train_on_inputs: false)
  trl      {"prompt", "completion"} for TRL's SFTTrainer (completion-only loss):
           one record per scored output, since a record scores one span; the
           loss is ours, at about n/2 times the tokens for n outputs. TRL
           tokenizes the prompt as one text, so token boundaries inside the
           prompt can differ from our segment-wise ones
  tokens   {"input_ids", "labels"} with -100 on unscored tokens, for any trainer
           using the same tokenizer (--max-length cuts as tune does)

Only the model's vocabulary is loaded. Every record carries "task".`,
		Example: `  spectrum suite generate poisson coinflip --rows 500 -o rows.jsonl
  spectrum suite export gemma-3-1b.gguf rows.jsonl --to axolotl -o axolotl.jsonl
  spectrum suite export model.gguf rows.jsonl --to trl -o trl.jsonl
  spectrum suite export model.gguf rows.jsonl --to tokens --max-length 1024 -o tokens.jsonl`,
		Args: modelArgs(2, "MODEL.gguf (or -m) and ROWS.jsonl"),
		RunE: func(cmd *cobra.Command, args []string) error {
			args = withModel(o.model, args)
			return runSuiteExport(cmd, g, o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	addModelFlag(cmd, &o.model)
	f.StringVar(&o.To, "to", format.ExportAxolotl, "layout: "+strings.Join(format.ExportLayouts(), ", "))
	f.StringVar(&o.Format, "format", format.NameAuto, "prompt format: auto, spectrum or colon")
	f.StringVar(&o.Family, "family", "", "model family (gemma3, chatml, llama3, phi3); default: detected from the GGUF")
	f.IntVar(&o.MaxLength, "max-length", 0, "with --to tokens: cut rows to this many tokens (0: no cut); rows left without a scored token are dropped")
	f.StringVarP(&o.Out, "output", "o", "", "output file (default: standard output)")
	return cmd
}

func runSuiteExport(cmd *cobra.Command, g *globalOptions, o *suiteExportOptions, modelPath, rowsPath string) error {
	if !slices.Contains(format.ExportLayouts(), o.To) {
		return fmt.Errorf("--to %q: want one of %s", o.To, strings.Join(format.ExportLayouts(), ", "))
	}
	if o.Format != format.NameAuto && o.Format != format.NameSpectrum && o.Format != format.NameColon {
		return fmt.Errorf("--format %q: export writes the formats tune trains on: auto, spectrum or colon", o.Format)
	}
	if o.MaxLength < 0 || (o.MaxLength > 0 && o.To != format.ExportTokens) {
		return fmt.Errorf("--max-length must be ≥ 0 and is for --to tokens (the other layouts are cut by the trainer's sequence length)")
	}
	if o.Out != "" {
		if err := outfile.Check(o.Out, rowsPath, modelPath); err != nil {
			return err
		}
	}
	rows, err := suite.ReadRowsFile(rowsPath)
	if err != nil {
		return err
	}
	f, m, err := resolveFormat(cmd, g, modelPath, o.Format, o.Family, "")
	if err != nil {
		return err
	}
	defer m.Close()
	written, dropped := 0, 0
	write := func(w io.Writer) error {
		bar := progress.New(cmd.ErrOrStderr(), len(rows), "export", "rows", g.Quiet)
		defer bar.Finish()
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for i, row := range rows {
			bar.Set(i, "")
			if err := cmd.Context().Err(); err != nil {
				return err
			}
			if row.Distributional() {
				return fmt.Errorf("%s row %d (%s): a distributional prompt row has no outputs to train on", rowsPath, i+1, row.Task)
			}
			segs, err := f.Render(format.Messages(row.Messages), false)
			if err != nil {
				return fmt.Errorf("%s row %d (%s): %w", rowsPath, i+1, row.Task, err)
			}
			switch o.To {
			case format.ExportAxolotl:
				as, err := format.AxolotlSegments(m, segs)
				if err != nil {
					return fmt.Errorf("%s row %d: %w", rowsPath, i+1, err)
				}
				err = enc.Encode(struct {
					Task     string                  `json:"task"`
					Segments []format.AxolotlSegment `json:"segments"`
				}{row.Task, as})
				if err != nil {
					return err
				}
				written++
			case format.ExportTRL:
				recs, err := format.TRLRecords(segs)
				if err != nil {
					return fmt.Errorf("%s row %d: %w", rowsPath, i+1, err)
				}
				for _, r := range recs {
					if err := enc.Encode(struct {
						Task string `json:"task"`
						Row  int    `json:"row"`
						format.TRLRecord
					}{row.Task, i, r}); err != nil {
						return err
					}
					written++
				}
			case format.ExportTokens:
				t, err := format.Tokenize(m, segs)
				if err != nil {
					return fmt.Errorf("%s row %d: %w", rowsPath, i+1, err)
				}
				if t.Truncate(o.MaxLength) {
					dropped++
					continue
				}
				ids, labels := format.TokenLabels(t)
				if err := enc.Encode(struct {
					Task     string  `json:"task"`
					InputIDs []int32 `json:"input_ids"`
					Labels   []int32 `json:"labels"`
				}{row.Task, ids, labels}); err != nil {
					return err
				}
				written++
			}
		}
		bar.Set(len(rows), "")
		return nil
	}
	err = outfile.Write(cmp.Or(o.Out, "-"), []string{rowsPath, modelPath}, cmd.OutOrStdout(), write)
	if err != nil {
		return err
	}
	log.Info("exported", "layout", o.To, "format", format.Describe(f), "rows", len(rows), "records", written, "dropped", dropped)
	return nil
}
