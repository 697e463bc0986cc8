package importer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spectrumkit/spectrum/suite"
	"github.com/spectrumkit/spectrum/table"
)

// Recipe rebuilds one reference task (reference §6.1) from its public
// source file: the same derived fields, descriptions, grouping and row sizes
// as the reference's loader in src/spectrum/icl_classes/icl_dataset_classes.
type Recipe struct {
	// Name is the reference's task key (default_data_map).
	Name string
	// Source says where the file comes from and which file it is.
	Source string
	// Columns are the source columns the recipe reads.
	Columns []string
	// PerFile builds each file on its own and concatenates the rows (the
	// reference loads some sources file by file, each with its own limits).
	PerFile bool
	// Notes states where our rows differ from the reference's.
	Notes string
	// prepare adds the derived columns Spec reads.
	prepare func(t *table.Table) error
	spec    Spec
}

// Spec returns the recipe's build settings (seed and sizes as the
// reference's defaults).
func (r *Recipe) Spec() Spec {
	s := r.spec
	s.Task = r.Name
	s.Descriptions = append([]string(nil), r.spec.Descriptions...)
	return s
}

// Build runs the recipe on the source files with settings s (normally
// r.Spec(), possibly with a changed seed, limits or test fraction).
func (r *Recipe) Build(s Spec, tables ...*table.Table) (*Result, error) {
	for _, t := range tables {
		for _, c := range r.Columns {
			if t.Col(c) < 0 {
				return nil, fmt.Errorf("%s: no column %q, which recipe %s needs (want the columns %s of %s; the file has %s)",
					t.Path, c, r.Name, strings.Join(quoteAll(r.Columns), ", "), r.Source, strings.Join(quoteAll(t.Columns), ", "))
			}
		}
		if r.prepare != nil {
			if err := r.prepare(t); err != nil {
				return nil, fmt.Errorf("recipe %s: %w", r.Name, err)
			}
		}
	}
	if !r.PerFile {
		return Build(s, tables...)
	}
	total := &Result{}
	for _, t := range tables {
		res, err := Build(s, t)
		if err != nil {
			return nil, err
		}
		total.Train = append(total.Train, res.Train...)
		total.Test = append(total.Test, res.Test...)
		total.Groups += res.Groups
		total.Dropped += res.Dropped
		total.ShortRows += res.ShortRows
	}
	for i := range total.Train {
		total.Train[i].Index = i
	}
	for i := range total.Test {
		total.Test[i].Index = len(total.Train) + i
	}
	return total, nil
}

var recipes = map[string]*Recipe{}

func addRecipe(r *Recipe) {
	if _, dup := recipes[r.Name]; dup {
		panic("importer: duplicate recipe " + r.Name)
	}
	if r.spec.DescriptionProb == 0 {
		r.spec.DescriptionProb = suite.DefaultDescriptionProb
	}
	if r.spec.Seed == 0 {
		r.spec.Seed = 42
	}
	r.spec.Shuffle = true
	recipes[r.Name] = r
}

// Recipes returns every recipe, sorted by name.
func Recipes() []*Recipe {
	out := make([]*Recipe, 0, len(recipes))
	for _, r := range recipes {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupRecipe finds a recipe by task name.
func LookupRecipe(name string) (*Recipe, error) {
	if r, ok := recipes[name]; ok {
		return r, nil
	}
	names := make([]string, 0, len(recipes))
	for n := range recipes {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("no recipe %q (recipes: %s)", name, strings.Join(names, ", "))
}

// literal escapes braces so that a fixed description is a template that
// renders to itself.
func literal(s string) string {
	return strings.NewReplacer("{", "{{", "}", "}}").Replace(s)
}

func literals(ss ...string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = literal(s)
	}
	return out
}

func str(v any) string { return suite.PyStr(pyValue(v)) }

var letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// listColumn returns a list-valued column of r.
func listColumn(t *table.Table, r *table.Record, col string) ([]any, error) {
	l, ok := t.Get(r, col).([]any)
	if !ok {
		return nil, fmt.Errorf("column %q: want a list, got a %s", col, table.Kind(t.Get(r, col)))
	}
	if len(l) > len(letters) {
		return nil, fmt.Errorf("column %q: %d choices, more than letters", col, len(l))
	}
	return l, nil
}

// lettered appends one "A. choice" line per choice to lines (clean, if set,
// is applied to each choice's text) and joins them with newlines: the
// multiple-choice prompts of the benchmark loaders.
func lettered(lines []string, choices []any, clean func(string) string) string {
	for i, c := range choices {
		text := str(c)
		if clean != nil {
			text = clean(text)
		}
		lines = append(lines, letters[i:i+1]+". "+text)
	}
	return strings.Join(lines, "\n")
}

// letterAt is the answer letter of choice index v (an int or an integer
// string, as Parquet files store it), below limit.
func letterAt(v any, col string, limit int) (string, error) {
	n, ok := intValue(v)
	if s, isStr := v.(string); isStr {
		var err error
		n, err = strconv.Atoi(pyStrip(s))
		ok = err == nil
	}
	if !ok || n < 0 || n >= limit {
		return "", fmt.Errorf("column %q: want a choice index below %d, got %s", col, limit, short(v))
	}
	return letters[n : n+1], nil
}

func intValue(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), true
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	}
	return 0, false
}

func init() {
	// imdb.py: generate_imdb (rows named "imdb_inverse" by the reference).
	addRecipe(&Recipe{
		Name:    "imdb",
		Source:  "Hugging Face stanfordnlp/imdb, plain_text/train-00000-of-00001.parquet",
		Columns: []string{"text", "label"},
		prepare: func(t *table.Table) error {
			if err := t.AddColumn("review", func(r *table.Record) (any, error) { return t.Get(r, "text"), nil }); err != nil {
				return err
			}
			return t.AddColumn("rating", func(r *table.Record) (any, error) {
				if n, ok := intValue(t.Get(r, "label")); ok && n == 0 {
					return "negative", nil
				}
				return "positive", nil
			})
		},
		spec: Spec{
			Input: Fields{Columns: []string{"review"}}, Output: Fields{Columns: []string{"rating"}},
			Descriptions: literals("Classify whether the following movie reviews as negative or positive."),
			Repeats:      200, MeanExamples: 128,
		},
	})

	// gsm8k.py: four directions over the train split, seeds 42..45.
	gsm := func(name string, seedOff int64, in, out []string, descs ...string) {
		s := Spec{Output: Fields{Columns: out}, Descriptions: literals(descs...), Repeats: 50, MeanExamples: 64, Seed: 42 + seedOff}
		if len(in) > 0 {
			s.Input = Fields{Columns: in}
		}
		addRecipe(&Recipe{
			Name:    name,
			Source:  "Hugging Face gsm8k (openai/gsm8k), main/train-00000-of-00001.parquet",
			Columns: []string{"question", "answer"},
			spec:    s,
		})
	}
	gsm("gsm8k_question", 0, nil, []string{"question"},
		"Generate grade school math word problems covering arithmetic, basic algebra, and word problem reasoning.",
		"Create diverse math word problems involving real-world scenarios and numerical reasoning.",
		"Math word problems suitable for grade school students.")
	gsm("gsm8k_answer_from_question", 1, []string{"question"}, []string{"answer"},
		"Given a math word problem, generate its step-by-step solution with calculations and reasoning.",
		"Solve grade school math word problems by providing detailed worked solutions.",
		"Given: question (math word problem). Generate: answer (step-by-step solution with final numerical answer).")
	gsm("gsm8k_question_answer", 2, nil, []string{"question", "answer"},
		"Generate both a math word problem (question) and its step-by-step solution (answer). These are grade school math problems covering arithmetic, basic algebra, and word problem reasoning.",
		"Create complete math problem pairs: generate both the word problem statement and its detailed solution with calculations.",
		"Generate: question (math word problem), answer (step-by-step solution with final numerical answer).")
	gsm("gsm8k_question_from_answer", 3, []string{"answer"}, []string{"question"},
		"Given a step-by-step math solution, generate a word problem that would lead to this solution.",
		"Create math word problems that match the given worked solution and final answer.",
		"Given: answer (step-by-step solution). Generate: question (word problem that leads to this solution).")

	// chemistry.py: BO-ICL's CSV files.
	addRecipe(&Recipe{
		Name:    "chemistry_esol",
		Source:  "BO-ICL (ur-whitelab/BO-ICL) data: esol_iupac.csv",
		Columns: []string{"SMILES", "SELFIES", "InChI", "IUPAC", "measured log(solubility:mol/L)"},
		spec: Spec{
			Input:        Fields{Columns: []string{"SMILES", "SELFIES", "InChI", "IUPAC"}},
			Output:       Fields{Columns: []string{"measured log(solubility:mol/L)"}},
			Descriptions: literals("Predict the measured log(solubility:mol/L) from SMILES, SELFIES, InChI, IUPAC"),
			MaxExamples:  15, Permutations: 5,
		},
	})
	addRecipe(&Recipe{
		Name:    "chemistry_oxidative",
		Source:  "BO-ICL (ur-whitelab/BO-ICL) data: train_data_num_feats.csv",
		Columns: []string{"prompt", "C2_yield"},
		spec: Spec{
			Input: Fields{Columns: []string{"prompt"}}, Output: Fields{Columns: []string{"C2_yield"}},
			Descriptions: literals("The following is data from a set of chemistry experiments. Predict the C2_yield from the experiment description."),
			MaxExamples:  10,
		},
	})

	// mmlu.py: 1000 rows of 20 random test questions.
	addRecipe(&Recipe{
		Name:    "mmlu",
		Source:  "Hugging Face cais/mmlu, all/test-00000-of-00001.parquet",
		Columns: []string{"question", "choices", "answer"},
		prepare: func(t *table.Table) error {
			if err := t.AddColumn("prompt", func(r *table.Record) (any, error) {
				choices, err := listColumn(t, r, "choices")
				if err != nil {
					return nil, err
				}
				return lettered([]string{"Question: " + str(t.Get(r, "question"))}, choices, nil), nil
			}); err != nil {
				return err
			}
			return t.AddColumn("answer_letter", func(r *table.Record) (any, error) {
				return letterAt(t.Get(r, "answer"), "answer", len(letters))
			})
		},
		spec: Spec{
			Input: Fields{Columns: []string{"prompt"}}, Output: Fields{Columns: []string{"answer_letter"}},
			Descriptions: literals("Given a question and a list of choices, return the correct answer choice."),
			Repeats:      1000, MaxExamples: 20,
		},
	})

	// arc.py: ARC-Challenge test, chunks of 10.
	addRecipe(&Recipe{
		Name:    "arc",
		Source:  "Hugging Face allenai/ai2_arc, ARC-Challenge/test-00000-of-00001.parquet",
		Columns: []string{"question", "choices", "answerKey"},
		Notes:   `the reference names its rows "arc_arc_challenge_test"`,
		prepare: func(t *table.Table) error {
			labelsOf := func(r *table.Record) ([]any, []any, error) {
				ch, ok := t.Get(r, "choices").(table.Object)
				if !ok {
					return nil, nil, fmt.Errorf("column \"choices\": want {text, label}, got a %s", table.Kind(t.Get(r, "choices")))
				}
				labels, _ := ch.Get("label")
				texts, _ := ch.Get("text")
				l, lok := labels.([]any)
				x, xok := texts.([]any)
				if !lok || !xok || len(l) != len(x) {
					return nil, nil, fmt.Errorf("column \"choices\": want equally long label and text lists")
				}
				return l, x, nil
			}
			if err := t.AddColumn("prompt", func(r *table.Record) (any, error) {
				labels, texts, err := labelsOf(r)
				if err != nil {
					return nil, err
				}
				lines := []string{"Question: " + pyStrip(str(t.Get(r, "question")))}
				for i := range labels {
					lines = append(lines, pyStrip(str(labels[i]))+". "+pyStrip(str(texts[i])))
				}
				return strings.Join(lines, "\n"), nil
			}); err != nil {
				return err
			}
			return t.AddColumn("answer_letter", func(r *table.Record) (any, error) {
				labels, _, err := labelsOf(r)
				if err != nil {
					return nil, err
				}
				key := pyStrip(str(t.Get(r, "answerKey")))
				for _, l := range labels {
					if pyStrip(str(l)) == key {
						return key, nil
					}
				}
				return nil, fmt.Errorf("answer key %q is not among the choice labels", key)
			})
		},
		spec: Spec{
			Input: Fields{Columns: []string{"prompt"}}, Output: Fields{Columns: []string{"answer_letter"}},
			Descriptions: literals(
				"Given a question and multiple choice answers, return the correct answer letter.",
				"Respond with only the uppercase letter corresponding to the correct option."),
			MaxExamples: 10,
		},
	})

	// winogrande.py: winogrande_xl validation, chunks of 10.
	addRecipe(&Recipe{
		Name:    "winogrande",
		Source:  "Hugging Face allenai/winogrande, winogrande_xl/validation-00000-of-00001.parquet",
		Columns: []string{"sentence", "option1", "option2", "answer"},
		Notes:   `the reference names its rows "winogrande_winogrande_xl_validation"`,
		prepare: func(t *table.Table) error {
			if err := t.AddColumn("prompt", func(r *table.Record) (any, error) {
				s := str(t.Get(r, "sentence"))
				return "Sentence: " + strings.ReplaceAll(s, "_", "_____") +
					"\nWhich option correctly fills in the blank?\nA. " + str(t.Get(r, "option1")) +
					"\nB. " + str(t.Get(r, "option2")), nil
			}); err != nil {
				return err
			}
			return t.AddColumn("answer_letter", func(r *table.Record) (any, error) {
				a := pyStrip(str(t.Get(r, "answer")))
				n, err := strconv.Atoi(a)
				if err != nil || n < 1 || n > 2 {
					return nil, fmt.Errorf("column \"answer\": want 1 or 2, got %q", a)
				}
				return letters[n-1 : n], nil
			})
		},
		spec: Spec{
			Input: Fields{Columns: []string{"prompt"}}, Output: Fields{Columns: []string{"answer_letter"}},
			Descriptions: literals(
				"Given a sentence with a blank and two candidate fillers, respond with the letter of the correct option.",
				"Return the single uppercase letter corresponding to the correct choice."),
			MaxExamples: 10,
		},
	})

	// hellaswag.py: Rowan/hellaswag validation, chunks of 20.
	addRecipe(&Recipe{
		Name:    "hellaswag",
		Source:  "Hugging Face Rowan/hellaswag, data/validation-00000-of-00001.parquet",
		Columns: []string{"activity_label", "ctx", "endings", "label"},
		Notes:   `the reference names its rows "hellaswag_validation"`,
		prepare: func(t *table.Table) error {
			if err := t.AddColumn("prompt", func(r *table.Record) (any, error) {
				endings, err := listColumn(t, r, "endings")
				if err != nil {
					return nil, err
				}
				var lines []string
				if a := t.Get(r, "activity_label"); !missing(a) && str(a) != "" {
					lines = append(lines, "Activity: "+str(a))
				}
				if c := t.Get(r, "ctx"); !missing(c) && str(c) != "" {
					lines = append(lines, "Context: "+str(c))
				}
				lines = append(lines, "Choose the option that best completes the description:")
				return lettered(lines, endings, nil), nil
			}); err != nil {
				return err
			}
			return t.AddColumn("answer_letter", func(r *table.Record) (any, error) {
				return letterAt(t.Get(r, "label"), "label", len(letters))
			})
		},
		spec: Spec{
			Input: Fields{Columns: []string{"prompt"}}, Output: Fields{Columns: []string{"answer_letter"}},
			Descriptions: literals(
				"Given a context and four possible endings, output the letter of the ending that best completes the context.",
				"Respond with the single uppercase letter for the correct choice."),
			MaxExamples: 20,
		},
	})

	// truthful_qa.py: generate_truthful_qa_mc on EleutherAI/truthful_qa_mc
	// (its choices and label), chunks of 10.
	addRecipe(&Recipe{
		Name:    "truthful_qa",
		Source:  "Hugging Face EleutherAI/truthful_qa_mc, multiple_choice/validation-00000-of-00001.parquet",
		Columns: []string{"question", "choices", "label"},
		Notes:   `the reference names its rows "truthful_qa_mc2_validation"`,
		prepare: func(t *table.Table) error {
			if err := t.AddColumn("prompt", func(r *table.Record) (any, error) {
				choices, err := listColumn(t, r, "choices")
				if err != nil {
					return nil, err
				}
				q := ""
				if v := t.Get(r, "question"); !missing(v) {
					q = pyStrip(str(v))
				}
				return lettered([]string{"Question: " + q}, choices, pyStrip), nil
			}); err != nil {
				return err
			}
			return t.AddColumn("answer_letter", func(r *table.Record) (any, error) {
				choices, _ := t.Get(r, "choices").([]any)
				return letterAt(t.Get(r, "label"), "label", len(choices))
			})
		},
		spec: Spec{
			Input: Fields{Columns: []string{"prompt"}}, Output: Fields{Columns: []string{"answer_letter"}},
			Descriptions: literals("You will be given a question and several answer choices, only one of which is true. Respond with the correct answer letter."),
			MaxExamples:  10,
		},
	})

	// drop.py: ucinlp/drop validation, the first non-empty answer span,
	// chunks of 10.
	addRecipe(&Recipe{
		Name:    "drop",
		Source:  "Hugging Face ucinlp/drop, data/validation-00000-of-00001.parquet",
		Columns: []string{"passage", "question", "answers_spans"},
		Notes:   `the reference names its rows "drop_default_validation"`,
		prepare: func(t *table.Table) error {
			if err := t.AddColumn("prompt", func(r *table.Record) (any, error) {
				clean := func(col string) string {
					if v := t.Get(r, col); !missing(v) {
						return pyStrip(str(v))
					}
					return ""
				}
				return "Passage: " + clean("passage") + "\nQuestion: " + clean("question"), nil
			}); err != nil {
				return err
			}
			return t.AddColumn("answer_text", func(r *table.Record) (any, error) {
				spans, ok := t.Get(r, "answers_spans").(table.Object)
				if ok {
					if list, ok := spans.Get("spans"); ok {
						items, _ := list.([]any)
						for _, it := range items {
							if a := pyStrip(str(it)); !missing(it) && a != "" {
								return a, nil
							}
						}
					}
				}
				return nil, fmt.Errorf("column \"answers_spans\": no answer span")
			})
		},
		spec: Spec{
			Input: Fields{Columns: []string{"prompt"}}, Output: Fields{Columns: []string{"answer_text"}},
			Descriptions: literals("Answer the question based on the passage. Respond with just the answer, usually a short word or phrase, either extracted from the passage or deduced from the information in the passage."),
			MaxExamples:  10,
		},
	})

	// dices.py: per rater, 100 items, 500 raters per file, demographics in
	// the second description.
	const dicesDesc = "Given a context conversation and a response from a language model, the rater was tasked to label whether or not they thought the last dialog model response is unsafe. (Q_overall: Yes, No, Unsure)"
	addRecipe(&Recipe{
		Name:    "dices",
		Source:  "git google-research-datasets/dices-dataset: 990/diverse_safety_adversarial_dialog_990.csv and 350/diverse_safety_adversarial_dialog_350.csv",
		Columns: []string{"rater_id", "context", "response", "Q_overall", "rater_gender", "rater_age", "rater_education"},
		PerFile: true,
		Notes:   `the reference names its rows "dices_individual"`,
		prepare: func(t *table.Table) error {
			// The two files name their demographic columns differently.
			demo := []string{"rater_gender", "rater_locale", "rater_race", "rater_race_raw", "rater_age", "rater_education"}
			if t.Col("rater_raw_race") >= 0 {
				demo = []string{"rater_gender", "rater_race", "rater_raw_race", "rater_age", "rater_education"}
			}
			for _, c := range demo {
				if t.Col(c) < 0 {
					return fmt.Errorf("%s: no column %q (a DICES file lists its rater demographics in %s)", t.Path, c, strings.Join(demo, ", "))
				}
			}
			return t.AddColumn("rater_demographics", func(r *table.Record) (any, error) {
				d := make(suite.PyDict, len(demo))
				for i, c := range demo {
					d[i] = suite.PyItem{Key: c, Value: pyValue(t.Get(r, c))}
				}
				return suite.PyStr(d), nil
			})
		},
		spec: Spec{
			Input:        Fields{Columns: []string{"context", "response"}},
			Output:       Fields{Columns: []string{"Q_overall"}},
			GroupBy:      []string{"rater_id"},
			Descriptions: []string{literal(dicesDesc), literal(dicesDesc+"\nRater demographics: ") + "{rater_demographics}"},
			Repeats:      1, MaxExamples: 100, MaxGroups: 500,
		},
	})
}

// pyStrip is Python's str.strip().
func pyStrip(s string) string { return strings.TrimSpace(s) }
