package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/format"
	"github.com/spectrumkit/spectrum/llama"
	"github.com/spectrumkit/spectrum/models"
	"github.com/spectrumkit/spectrum/suite"
)

func init() { register(newFormatCmd) }

type formatOptions struct {
	model        string
	Format       string
	Family       string
	ChatTemplate string
	Tokens       bool
	JSON         bool
	Prompt       bool
	Open, Close  string
}

func newFormatCmd(g *globalOptions) *cobra.Command {
	o := &formatOptions{}
	cmd := &cobra.Command{
		Use:   "format MODEL ROWS.jsonl",
		Short: "Render rows in a prompt format and show the loss spans (and tokens)",
		Long: `format renders each row of a JSONL file ({"task": …, "messages": [{"role", "content"}, …]})
in a prompt format, as training and scoring see it, and prints the text with the
loss (scored) spans marked between § signs.

Formats (--format):
  spectrum  the Spectrum Tuning format in the model's own turn tokens
            (gemma3 <start_of_turn>…, chatml <|im_start|>…, llama3 header ids)
  colon     "Description: …", "Input: …", "Output: …" for models without turn tokens
  chat      the reference's system/user/assistant conversion rendered with the
            model's chat template (llama.cpp's built-in renderer)
  auto      spectrum when the model has its family's turn tokens as single
            special tokens, colon otherwise (the choice is reported on stderr)

Only the model's vocabulary is loaded. With --tokens each token is listed with its
id, piece, loss flag and example index (BOS only at the start, the final EOS
unlabelled). With --json one JSON object is written per row.`,
		Example: `  spectrum format gemma-3-1b.gguf rows.jsonl
  spectrum format model.gguf --format colon --tokens rows.jsonl
  spectrum format model.gguf --format chat --json --tokens rows.jsonl | jq .segments
  spectrum format model.gguf --prompt rows.jsonl      # append the generation prompt`,
		Args: modelArgs(2, "MODEL.gguf (or -m) and ROWS.jsonl"),
		RunE: func(cmd *cobra.Command, args []string) error {
			args = withModel(o.model, args)
			return runFormat(cmd, g, o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	addModelFlag(cmd, &o.model)
	f.StringVar(&o.Format, "format", format.NameAuto, "prompt format: "+strings.Join(format.Names(), ", "))
	f.StringVar(&o.Family, "family", "", "model family (gemma3, chatml, llama3, phi3); default: detected from the GGUF")
	f.StringVar(&o.ChatTemplate, "chat-template", "", "chat template for --format chat: a llama.cpp built-in name (gemma, chatml, llama3, phi3) or a template text; default: the model's")
	f.BoolVar(&o.Tokens, "tokens", false, "list the tokens: id, piece, loss flag, example index")
	f.BoolVar(&o.JSON, "json", false, "write one JSON object per row")
	f.BoolVar(&o.Prompt, "prompt", false, "append the generation prompt (start_generation); tokens then end without EOS")
	f.StringVar(&o.Open, "mark-open", "§", "text written before each loss span")
	f.StringVar(&o.Close, "mark-close", "§", "text written after each loss span")
	f.SortFlags = false
	return cmd
}

// formatJSON is the --json shape of one row.
type formatJSON struct {
	Task         string           `json:"task"`
	Format       string           `json:"format"`
	Family       string           `json:"family,omitempty"`
	Text         string           `json:"text"`
	Segments     []format.Segment `json:"segments"`
	Tokens       []int32          `json:"tokens,omitempty"`
	Pieces       []string         `json:"pieces,omitempty"`
	Loss         []bool           `json:"loss,omitempty"`
	ExampleIndex []int            `json:"example_index,omitempty"`
}

func runFormat(cmd *cobra.Command, g *globalOptions, o *formatOptions, modelPath, rowsPath string) error {
	name := o.Format
	known := false
	for _, n := range format.Names() {
		known = known || n == name
	}
	if !known {
		return fmt.Errorf("--format %q: want one of %s", name, strings.Join(format.Names(), ", "))
	}
	if o.ChatTemplate != "" && name != format.NameChat {
		return fmt.Errorf("--chat-template is for --format chat")
	}
	rows, err := suite.ReadRowsFile(rowsPath)
	if err != nil {
		return err
	}
	f, m, err := resolveFormat(cmd, g, modelPath, name, o.Family, o.ChatTemplate)
	if err != nil {
		return err
	}
	defer m.Close()

	w := bufio.NewWriter(cmd.OutOrStdout())
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i, row := range rows {
		segs, err := f.Render(format.Messages(row.Messages), o.Prompt)
		if err != nil {
			return fmt.Errorf("row %d (%s): %w", i+1, row.Task, err)
		}
		var toks format.Tokens
		if o.Tokens {
			if o.Prompt {
				toks, err = format.TokenizePrompt(m, segs)
			} else {
				toks, err = format.Tokenize(m, segs)
			}
			if err != nil {
				return fmt.Errorf("row %d (%s): %w", i+1, row.Task, err)
			}
		}
		if o.JSON {
			out := formatJSON{Task: row.Task, Format: f.Name(), Family: string(formatFamily(f)), Text: format.Text(segs), Segments: segs}
			if o.Tokens {
				out.Tokens, out.Loss, out.ExampleIndex = toks.IDs, toks.Loss, toks.ExampleIndex
				out.Pieces = make([]string, len(toks.IDs))
				for k, id := range toks.IDs {
					out.Pieces[k] = m.TokenToPiece(id)
				}
			}
			if err := enc.Encode(out); err != nil {
				return err
			}
			continue
		}
		writeFormatRow(w, i, row.Task, f, segs, o)
		if o.Tokens {
			writeFormatTokens(w, m, toks)
		}
		if err := cmd.Context().Err(); err != nil {
			return err
		}
	}
	return w.Flush()
}

// resolveFormat loads a model's vocabulary and picks the format name asks
// for (family "" is detected from the GGUF; chatTemplate is for chat).
// The caller closes the model.
func resolveFormat(cmd *cobra.Command, g *globalOptions, modelPath, name, familyFlag, chatTemplate string) (format.Format, *llama.Model, error) {
	info, err := models.ReadInfo(modelPath)
	if err != nil {
		return nil, nil, err
	}
	family := info.Family
	if familyFlag != "" {
		if family, err = format.ParseFamily(familyFlag); err != nil {
			return nil, nil, err
		}
	}
	m, err := llama.LoadModel(modelPath, llama.ModelParams{VocabOnly: true})
	if err != nil {
		return nil, nil, err
	}
	var f format.Format
	if chatTemplate != "" {
		c, cerr := format.NewChat(family, chatTemplate)
		if cerr != nil {
			m.Close()
			return nil, nil, cerr
		}
		if miss := format.MissingTokens(m, c.RequiredTokens()); len(miss) > 0 {
			m.Close()
			return nil, nil, &format.MissingTokenError{Format: format.NameChat, Family: c.Family(), Token: miss[0]}
		}
		f = c
	} else if f, err = format.ForModel(name, family, m); err != nil {
		m.Close()
		return nil, nil, err
	}
	if !g.Quiet {
		fam := string(family)
		if fam == "" {
			fam = "none"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "format: %s (asked: %s; model family: %s)\n", format.Describe(f), name, fam)
	}
	return f, m, nil
}

func formatFamily(f format.Format) format.Family {
	switch v := f.(type) {
	case *format.Spectrum:
		return v.Family()
	case *format.Chat:
		return v.Family()
	}
	return format.FamilyNone
}

func writeFormatRow(w io.Writer, i int, task string, f format.Format, segs []format.Segment, o *formatOptions) {
	scored := 0
	for _, s := range segs {
		if s.Loss {
			scored++
		}
	}
	fmt.Fprintf(w, "### row %d  task=%s  format=%s  segments=%d  scored=%d\n", i+1, task, format.Describe(f), len(segs), scored)
	text := format.ShowLoss(segs, o.Open, o.Close)
	fmt.Fprint(w, text)
	if !strings.HasSuffix(text, "\n") {
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func writeFormatTokens(w io.Writer, m *llama.Model, t format.Tokens) {
	fmt.Fprintf(w, "%6s %8s  %-5s %7s  %s\n", "pos", "id", "loss", "example", "piece")
	for k, id := range t.IDs {
		loss := "-"
		if t.Loss[k] {
			loss = "+"
		}
		ex := "-"
		if t.ExampleIndex[k] >= 0 {
			ex = fmt.Sprint(t.ExampleIndex[k])
		}
		fmt.Fprintf(w, "%6d %8d  %-5s %7s  %q\n", k, id, loss, ex, m.TokenToPiece(id))
	}
	fmt.Fprintf(w, "%d tokens, %d labelled, %d examples\n\n", t.Len(), t.NumLabels(), t.NumExamples())
}
