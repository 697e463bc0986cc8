package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/spectrumkit/spectrum/internal/outfile"
	"github.com/spectrumkit/spectrum/suite"
	"github.com/spectrumkit/spectrum/suite/importer"
	"github.com/spectrumkit/spectrum/table"
)

type suiteImportOptions struct {
	Recipe          string
	Format          string
	Task            string
	Output          []string
	OutputTemplate  string
	Input           []string
	InputTemplate   string
	GroupBy         []string
	Descriptions    []string
	DescriptionProb float64
	MaxExamples     int
	MeanExamples    float64
	MinExamples     int
	Repeats         int
	Permutations    int
	MaxGroups       int
	Shuffle         bool
	Seed            int64
	DropMissing     bool
	TestFraction    float64
	Out             string
	TestOut         string
}

func newSuiteImportCmd(g *globalOptions) *cobra.Command {
	o := &suiteImportOptions{}
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Build rows from tabular data (JSONL, JSON, CSV/TSV, Parquet)",
		Long: `import turns records of any tabular file into Spectrum rows: records are grouped
(--group-by: one annotator, one user, one respondent, i.e. one generating process
per group), each group is cut into rows of exchangeable examples, and each record
becomes an optional input message and an output message.

Formats come from the file name (.jsonl, .json, .csv, .tsv, .parquet; .gz for the
text formats) or --format. Values are typed as pandas reads them, and messages are
formatted as the reference's format_sample: one column gives Python's str(value),
several columns (--output-column a --output-column b) give json.dumps({"a": …, "b": …}) with
ensure_ascii; --output-template/--input-template give free text with {column}
fields ({{ and }} for braces). --description is a literal text or a template over
the group's first record ('{bio}' takes a column), and may be repeated (one is
chosen per row).

--recipe NAME rebuilds a reference task from its public source file (spectrum
suite recipes lists them, with the file each expects); the other flags then
default to the reference's settings and may be overridden (--seed, --max-groups,
--test-fraction, --description-prob).

With --test-fraction, that share of the groups (of the rows without --group-by)
goes to --test-output: no group has rows on both sides. Bad input (a missing column,
mixed types in a column, malformed lines, empty groups) is an error naming the
file, line or row, and column.`,
		Example: `  spectrum suite import ratings.csv --group-by annotator --input-column comment --output-column label \
      --description 'Toxicity labels, 0-4, of one annotator.' -o rows.jsonl
  spectrum suite import survey.parquet --group-by respondent --input-column question --output-column answer \
      --description 'Answers of one person: {demographics}' --max-examples 40 \
      --test-fraction 0.2 -o train.jsonl --test-output test.jsonl
  spectrum suite import qa.jsonl --output-template 'Q: {question}\nA: {answer}' --max-examples 8
  spectrum suite import --recipe mmlu test-00000-of-00001.parquet -o mmlu.jsonl`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("name one or more data files to import")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSuiteImport(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Recipe, "recipe", "", "rebuild a reference task from its source file (spectrum suite recipes)")
	f.StringVar(&o.Format, "format", "", "file format: jsonl, json, csv, tsv or parquet (default: from the file name)")
	f.StringVar(&o.Task, "task", "", "task name of the rows (default: the recipe's, or the first file's base name); test-split task prefixes hold the rows out of training")
	f.StringArrayVar(&o.Output, "output-column", nil, "output column; repeat for several (JSON-encoded together)")
	f.StringVar(&o.OutputTemplate, "output-template", "", "output as a template over columns, e.g. '{city}, {country}'")
	f.StringArrayVar(&o.Input, "input-column", nil, "input column; repeat for several (JSON-encoded together)")
	f.StringVar(&o.InputTemplate, "input-template", "", "input as a template over columns")
	f.StringArrayVar(&o.GroupBy, "group-by", nil, "group records by this column (repeat for several): one generating process per group")
	f.StringArrayVar(&o.Descriptions, "description", nil, "description text or template over the group's first record; repeat for a choice")
	f.Float64Var(&o.DescriptionProb, "description-prob", suite.DefaultDescriptionProb, "probability that a row starts with a description")
	f.IntVar(&o.MaxExamples, "max-examples", 0, "cut groups into rows of at most this many examples (0: a whole group per row)")
	f.Float64Var(&o.MeanExamples, "mean-examples", 0, "draw row sizes with this mean, as the reference's geom_and_poisson_iter")
	f.IntVar(&o.MinExamples, "min-examples", 1, "drop rows (and groups) with fewer examples")
	f.IntVar(&o.Repeats, "repeats", 0, "draw this many rows per group, each a fresh random subset, instead of cutting the group into disjoint rows")
	f.IntVar(&o.Permutations, "permutations", 1, "emit each row this many times with its examples reordered")
	f.IntVar(&o.MaxGroups, "max-groups", 0, "keep only this many groups (0: all)")
	f.BoolVar(&o.Shuffle, "shuffle", false, "shuffle records, groups, examples and rows (default: keep file order)")
	f.Int64Var(&o.Seed, "seed", 42, "random seed for shuffles, row sizes and description draws")
	f.BoolVar(&o.DropMissing, "drop-missing", false, "skip records with a missing value in a used column (default: keep, formatted as Python would: nan, None)")
	f.Float64Var(&o.TestFraction, "test-fraction", 0, "hold out this fraction of the groups as test rows (--test-output)")
	f.StringVarP(&o.Out, "output", "o", "", "rows file (default: standard output)")
	f.StringVar(&o.TestOut, "test-output", "", "file for the held-out rows of --test-fraction")
	f.SortFlags = false
	return cmd
}

func runSuiteImport(cmd *cobra.Command, o *suiteImportOptions, files []string) error {
	if err := outfile.CheckOutputs([]string{o.Out, o.TestOut}, files); err != nil {
		return err
	}
	var format table.Format
	if o.Format != "" {
		var err error
		if format, err = table.ParseFormat(o.Format); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
	}
	if (o.TestFraction > 0) != (o.TestOut != "") {
		return fmt.Errorf("--test-fraction and --test-output go together (the held-out rows need a file)")
	}
	if o.TestOut != "" && (o.TestOut == o.Out || o.TestOut == "-") {
		return fmt.Errorf("--test-outputput must be a file other than --output")
	}
	var recipe *importer.Recipe
	var spec importer.Spec
	changed := cmd.Flags().Changed
	if o.Recipe != "" {
		var err error
		if recipe, err = importer.LookupRecipe(o.Recipe); err != nil {
			return err
		}
		for _, fl := range []string{"output-column", "output-template", "input-column", "input-template", "group-by", "description"} {
			if changed(fl) {
				return fmt.Errorf("--%s cannot change recipe %s (its fields are the reference's); import without --recipe to choose your own", fl, recipe.Name)
			}
		}
		spec = recipe.Spec()
	} else {
		spec = importer.Spec{
			Output:       importer.Fields{Columns: o.Output, Template: o.OutputTemplate},
			Input:        importer.Fields{Columns: o.Input, Template: o.InputTemplate},
			GroupBy:      o.GroupBy,
			Descriptions: o.Descriptions,
			Shuffle:      o.Shuffle,
			MinExamples:  o.MinExamples,
			Permutations: o.Permutations,
		}
		if len(o.Output) > 0 && o.OutputTemplate != "" {
			return fmt.Errorf("give --output-column or --output-template, not both")
		}
		if len(o.Input) > 0 && o.InputTemplate != "" {
			return fmt.Errorf("give --input-column or --input-template, not both")
		}
		if spec.Output.IsZero() {
			return fmt.Errorf("name the output: --output-column COLUMN (repeatable) or --output-template TEXT")
		}
		spec.Task = strings.TrimSuffix(filepath.Base(files[0]), ".gz")
		spec.Task = strings.TrimSuffix(spec.Task, filepath.Ext(spec.Task))
		spec.DescriptionProb = o.DescriptionProb
		spec.Seed = o.Seed
	}
	// Flags that apply to both, when given.
	if o.Task != "" {
		spec.Task = o.Task
	}
	if changed("seed") {
		spec.Seed = o.Seed
	}
	if changed("description-prob") {
		spec.DescriptionProb = o.DescriptionProb
	}
	if changed("max-examples") {
		spec.MaxExamples, spec.MeanExamples = o.MaxExamples, 0
	}
	if changed("mean-examples") {
		spec.MeanExamples, spec.MaxExamples = o.MeanExamples, 0
	}
	if changed("min-examples") {
		spec.MinExamples = o.MinExamples
	}
	if changed("repeats") {
		spec.Repeats = o.Repeats
	}
	if changed("permutations") {
		spec.Permutations = o.Permutations
		if o.Permutations < 1 {
			return fmt.Errorf("--permutations must be ≥ 1, got %d", o.Permutations)
		}
	}
	if changed("shuffle") {
		spec.Shuffle = o.Shuffle
	}
	spec.MaxGroups = max(spec.MaxGroups, 0)
	if changed("max-groups") {
		spec.MaxGroups = o.MaxGroups
	}
	spec.DropMissing = o.DropMissing
	spec.TestFraction = o.TestFraction

	tables := make([]*table.Table, len(files))
	for i, f := range files {
		t, err := table.ReadFile(f, format)
		if err != nil {
			return err
		}
		log.Info("read", "file", f, "records", len(t.Records), "columns", len(t.Columns))
		tables[i] = t
	}
	var res *importer.Result
	var err error
	if recipe != nil {
		res, err = recipe.Build(spec, tables...)
	} else {
		res, err = importer.Build(spec, tables...)
	}
	if err != nil {
		return err
	}
	log.Info("built", "task", spec.Task, "split", suite.SplitOf(spec.Task), "groups", res.Groups,
		"rows", len(res.Train), "test_rows", len(res.Test), "dropped_records", res.Dropped, "short_rows", res.ShortRows)
	if o.TestOut != "" {
		if err := suite.WriteRowsFile(o.TestOut, res.Test, files...); err != nil {
			return err
		}
		log.Info("wrote", "file", o.TestOut, "rows", len(res.Test))
	}
	if o.Out == "" || o.Out == "-" {
		return suite.WriteRows(cmd.OutOrStdout(), res.Train)
	}
	if err := suite.WriteRowsFile(o.Out, res.Train, files...); err != nil {
		return err
	}
	log.Info("wrote", "file", o.Out, "rows", len(res.Train))
	return nil
}

func newSuiteRecipesCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "recipes",
		Short: "List the recipes that rebuild reference tasks from public files",
		Long: `recipes lists the reference tasks that suite import --recipe can rebuild: the task,
its split, the source file it expects and the columns it reads. Download the file
yourself (nothing is fetched by this toolkit), then run
  spectrum suite import --recipe TASK FILE -o rows.jsonl`,
		Example: `  spectrum suite recipes`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TASK\tSPLIT\tSOURCE\tCOLUMNS")
			for _, r := range importer.Recipes() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, suite.SplitOf(r.Name), r.Source, strings.Join(r.Columns, ", "))
			}
			return tw.Flush()
		},
	}
}
