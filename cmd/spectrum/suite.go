package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/suite"
	"github.com/spectrumkit/spectrum/suite/importer"
)

func init() { register(newSuiteCmd) }

func newSuiteCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "List, generate and show Spectrum Suite tasks",
		Long: `suite works with Spectrum Suite tasks: rows of one optional description followed by
exchangeable input/output examples from one generating process (JSONL, one
{"task", "messages": [{"role", "content"}, …]} object per line).

The offline tasks are built in: the synthetic ICL tasks (coinflip, normal, cards,
nine discrete distributions, flight), the diversity/validity ("coverage") tasks
with their validators, and the urn and states distributional tasks. The other
reference tasks need downloaded data; they are listed so that their kind and
train/test split are known; import builds rows from their public source files
(suite recipes lists the tasks it can rebuild) or from any table of your own.`,
		Example: `  spectrum suite list
  spectrum suite generate coinflip --rows 10 | head -c 600
  spectrum suite generate poisson normal --seed 7 -o train.jsonl
  spectrum suite show train.jsonl
  spectrum suite import ratings.csv --group-by rater --input-column item --output-column label -o rows.jsonl
  spectrum suite import --recipe mmlu test-00000-of-00001.parquet -o mmlu.jsonl`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSuiteListCmd(g), newSuiteGenerateCmd(g), newSuiteShowCmd(g), newSuiteImportCmd(g), newSuiteRecipesCmd(g), newSuiteExportCmd(g))
	return cmd
}

func newSuiteListCmd(g *globalOptions) *cobra.Command {
	var offlineOnly bool
	var kind string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tasks: kind, split, default rows, offline",
		Long: `list prints one line per task: its name, kind (icl, coverage, distributional),
split (test for the reference's held-out task-name prefixes, train otherwise), the
number of rows the reference generates ("-" where it depends on downloaded data)
and whether it can be generated offline ("recipe": suite import --recipe builds it
from its public source file).`,
		Example: `  spectrum suite list
  spectrum suite list --offline
  spectrum suite list --kind coverage`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch suite.Kind(kind) {
			case "", suite.KindICL, suite.KindCoverage, suite.KindDistributional:
			default:
				return fmt.Errorf("--kind %q: want icl, coverage or distributional", kind)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TASK\tKIND\tSPLIT\tROWS\tOFFLINE")
			for _, t := range suite.Tasks() {
				if (offlineOnly && !t.Offline) || (kind != "" && string(t.Kind) != kind) {
					continue
				}
				rows, offline := "-", "no"
				if t.DefaultRows > 0 {
					rows = strconv.Itoa(t.DefaultRows)
				}
				if t.Offline {
					offline = "yes"
				} else if _, err := importer.LookupRecipe(t.Name); err == nil {
					offline = "recipe"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Kind, t.Split, rows, offline)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&offlineOnly, "offline", false, "only the tasks that can be generated offline")
	cmd.Flags().StringVar(&kind, "kind", "", "only tasks of this kind: icl, coverage or distributional")
	return cmd
}

type suiteGenerateOptions struct {
	Seed            int64
	Rows            int
	Output          string
	DescriptionProb float64
}

func newSuiteGenerateCmd(g *globalOptions) *cobra.Command {
	o := &suiteGenerateOptions{}
	cmd := &cobra.Command{
		Use:   "generate TASK...",
		Short: "Generate rows of offline tasks as JSONL",
		Long: `generate writes the rows of one or more offline tasks as JSONL, to standard output
or, with -o, atomically to a file (written to a temporary file and renamed).

Rows are deterministic per --seed; a row depends only on the task, the seed and
its index, so fewer --rows give a prefix of more. ICL rows start with a
description with probability 0.6 (0.4 for normal), as the reference code does; the
paper states 0.8 (--description-prob 0.8). Coverage tasks give their prompt
(description and three examples); distributional tasks give prompt rows with
"target_outputs" and "target_probs".`,
		Example: `  spectrum suite generate coinflip --rows 5
  spectrum suite generate poisson geometric binomial --seed 1 -o discrete.jsonl
  spectrum suite generate normal --description-prob 0.8 --rows 100 -o normal.jsonl
  spectrum suite generate urn --rows 20`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("name one or more tasks to generate (spectrum suite list --offline shows them)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("description-prob") {
				o.DescriptionProb = -1 // the task's own
			} else if err := checkRange("description-prob", o.DescriptionProb, 0, 1); err != nil {
				return err
			}
			if err := checkRange("rows", float64(o.Rows), 0, math.Inf(1)); err != nil {
				return err
			}
			if o.Output != "" {
				if err := outfile.Check(o.Output); err != nil {
					return err
				}
			}
			return runSuiteGenerate(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&o.Seed, "seed", 42, "random seed")
	f.IntVar(&o.Rows, "rows", 0, "rows per task (0: the task's default)")
	f.StringVarP(&o.Output, "output", "o", "", "output file (default: standard output)")
	f.Float64Var(&o.DescriptionProb, "description-prob", 0, "probability that an ICL row has a description (default: the task's, 0.6; 0.4 for normal)")
	f.SortFlags = false
	return cmd
}

func runSuiteGenerate(cmd *cobra.Command, o *suiteGenerateOptions, names []string) error {
	if o.Rows < 0 {
		return fmt.Errorf("--rows must be ≥ 0 (0: the task's default), got %d", o.Rows)
	}
	if o.DescriptionProb != -1 && (o.DescriptionProb < 0 || o.DescriptionProb > 1) {
		return fmt.Errorf("--description-prob must be in [0, 1], got %v", o.DescriptionProb)
	}
	tasks := make([]*suite.Task, len(names))
	for i, name := range names {
		t, err := suite.Lookup(name)
		if err != nil {
			return err
		}
		if !t.Offline {
			if _, err := importer.LookupRecipe(t.Name); err == nil {
				return fmt.Errorf("task %s needs downloaded data (reference: %s); build it from its source file with spectrum suite import --recipe %s FILE (spectrum suite recipes names the file)", t.Name, t.Source, t.Name)
			}
			return fmt.Errorf("task %s needs downloaded data and cannot be generated offline (reference: %s); import its rows as JSONL, or build them from the data with spectrum suite import", t.Name, t.Source)
		}
		tasks[i] = t
	}
	var rows []suite.Row
	for _, t := range tasks {
		if err := cmd.Context().Err(); err != nil {
			return err
		}
		p := t.DescriptionProb
		if o.DescriptionProb != -1 {
			p = o.DescriptionProb
		}
		rs, err := t.GenerateWith(o.Seed, o.Rows, p)
		if err != nil {
			return err
		}
		log.Info("generated", "task", t.Name, "rows", len(rs), "seed", o.Seed, "split", t.Split)
		rows = append(rows, rs...)
	}
	if o.Output == "" || o.Output == "-" {
		return suite.WriteRows(cmd.OutOrStdout(), rows)
	}
	if err := suite.WriteRowsFile(o.Output, rows); err != nil {
		return err
	}
	log.Info("wrote", "file", o.Output, "rows", len(rows))
	return nil
}

type suiteShowOptions struct {
	Limit       int
	MaxMessages int
}

func newSuiteShowCmd(g *globalOptions) *cobra.Command {
	o := &suiteShowOptions{}
	cmd := &cobra.Command{
		Use:   "show ROWS.jsonl",
		Short: "Print rows in a human-readable form",
		Long: `show reads a JSONL rows file (this toolkit's or the reference's: role/content
messages) and prints each row: its task and split, the bookkeeping fields, and the
messages one per line with their role, multi-line contents indented. Malformed
input is an error naming the file and line.`,
		Example: `  spectrum suite show rows.jsonl
  spectrum suite show --limit 3 --max-messages 0 rows.jsonl     # all messages of 3 rows
  spectrum suite generate flight --rows 1 -o f.jsonl && spectrum suite show f.jsonl`,
		Args: exactArgs(1, "ROWS.jsonl"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Limit < 0 || o.MaxMessages < 0 {
				return fmt.Errorf("--limit and --max-messages must be ≥ 0")
			}
			rows, err := suite.ReadRowsFile(args[0])
			if err != nil {
				return err
			}
			log.Info("read", "file", args[0], "rows", len(rows))
			w := bufio.NewWriter(cmd.OutOrStdout())
			showRows(w, rows, o)
			return w.Flush()
		},
	}
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "show at most this many rows (0: all)")
	cmd.Flags().IntVar(&o.MaxMessages, "max-messages", 12, "show at most this many messages per row (0: all)")
	return cmd
}

func showRows(w io.Writer, rows []suite.Row, o *suiteShowOptions) {
	for i := range rows {
		if o.Limit > 0 && i >= o.Limit {
			fmt.Fprintf(w, "… %d more rows\n", len(rows)-i)
			return
		}
		r := &rows[i]
		if i > 0 {
			fmt.Fprintln(w)
		}
		task := r.Task
		if task == "" {
			task = "(no task)"
		}
		head := fmt.Sprintf("── row %d · %s · %s", i+1, task, suite.SplitOf(r.Task))
		if r.Distributional() {
			head += fmt.Sprintf(" · %d targets", len(r.Targets))
		} else {
			head += fmt.Sprintf(" · %d examples", r.N)
		}
		head += fmt.Sprintf(" · seed %d", r.Seed)
		if r.Index > 0 {
			head += fmt.Sprintf(" · index %d", r.Index)
		}
		if !r.IncludeDescription {
			head += " · no description"
		}
		fmt.Fprintln(w, head+" ──")
		for j, m := range r.Messages {
			if o.MaxMessages > 0 && j >= o.MaxMessages {
				fmt.Fprintf(w, "  … %d more messages\n", len(r.Messages)-j)
				break
			}
			fmt.Fprintf(w, "  %-13s %s\n", "["+m.Role+"]", indentContinuation(m.Content, 16))
		}
		for j, t := range r.Targets {
			p := 0.0
			if j < len(r.TargetProbs) {
				p = r.TargetProbs[j]
			}
			fmt.Fprintf(w, "  %-13s %-20s %.4f\n", "[target]", t, p)
		}
	}
}

// indentContinuation indents every line after the first by n spaces and marks
// an empty content.
func indentContinuation(s string, n int) string {
	if s == "" {
		return "(empty)"
	}
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
}
