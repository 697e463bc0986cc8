package suite

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Kind is the family a task belongs to.
type Kind string

const (
	// KindICL tasks make Spectrum Suite rows: a description (sometimes) and
	// many exchangeable examples (reference §6.1, §6.4).
	KindICL Kind = "icl"
	// KindCoverage tasks are the diversity/validity tasks: a description,
	// three example outputs and a validator (reference §5.2, §6.2).
	KindCoverage Kind = "coverage"
	// KindDistributional tasks are prompts with candidate outputs and target
	// probabilities (reference §5.3, §6.3).
	KindDistributional Kind = "distributional"
)

// Split is the train/test split of a task.
type Split string

const (
	SplitTrain Split = "train"
	SplitTest  Split = "test"
)

// Description-inclusion probabilities of ICL rows.
const (
	// DefaultDescriptionProb is what the reference code actually uses for
	// every ICL task except normal (its include_prior_prob argument is never
	// read, reference §1.6).
	DefaultDescriptionProb = 0.6
	// NormalDescriptionProb is the reference's value for the normal task.
	NormalDescriptionProb = 0.4
	// PaperDescriptionProb is the probability the paper states (the
	// description is dropped with probability 0.2).
	PaperDescriptionProb = 0.8
)

// testPrefixes is the reference's include_in_test list (dataloaders.py,
// reference §1.5): a task whose name starts with one of these is held out.
var testPrefixes = []string{
	"wvs", "globaloqa", "wvs", "habermas", "numbergame", "flight", "chatbotarena", "novacomet",
	"mmlu", "hellaswag", "winogrande", "arc", "drop", "truthful_qa", "gpqa",
	"chemistry_esol", "chemistry_oxidative",
}

// TestPrefixes returns the task-name prefixes of the held-out (test) split.
func TestPrefixes() []string { return append([]string(nil), testPrefixes...) }

// IsTest reports whether a task is in the reference's test split: its name
// starts with one of TestPrefixes. It applies to built-in and imported task
// names alike (e.g. "habermas_individual", "flight" and "arc" are test tasks,
// "coinflip" and "babynames" are train tasks).
func IsTest(taskName string) bool {
	for _, p := range testPrefixes {
		if strings.HasPrefix(taskName, p) {
			return true
		}
	}
	return false
}

// SplitOf returns SplitTest or SplitTrain for a task name (see IsTest).
func SplitOf(taskName string) Split {
	if IsTest(taskName) {
		return SplitTest
	}
	return SplitTrain
}

// ErrNotOffline is returned (wrapped) by Generate for tasks whose data must
// be downloaded; import their rows from JSONL instead (ReadRowsFile).
var ErrNotOffline = errors.New("task needs external data and cannot be generated offline")

// Task is one Spectrum Suite task.
type Task struct {
	Name  string
	Kind  Kind
	Split Split
	// Offline reports whether Generate works without downloads.
	Offline bool
	// DefaultRows is the number of rows the reference generates (0: unknown,
	// data-dependent).
	DefaultRows int
	// Descriptions are the task's description strings. For parametric ICL
	// tasks they are templates with the parameters in braces
	// ("Poisson({λ})"); the generated row carries the filled-in string.
	Descriptions []string
	// DescriptionProb is the probability that an ICL row starts with a
	// description (Generate's default).
	DescriptionProb float64
	// Source is the reference file the task comes from.
	Source string
	// Summary is a one-line description for listings.
	Summary string

	// Coverage tasks: the three example outputs, the generation budget, and
	// the closed list of valid strings of the reference's InclusionTasks
	// (coverage_pct = unique valid outputs / len(ValidSet); duplicates are
	// kept because the reference divides by the list length). ValidSet is nil
	// for validator-function tasks.
	Examples     []string
	MaxNewTokens int
	ValidSet     []string
	validate     func(string) bool

	// OutputName is the colon-format output label of a distributional task.
	OutputName string

	gen func(t *Task, seed int64, rows int, descProb float64) ([]Row, error)
}

// Generate makes rows deterministically from seed; rows ≤ 0 means
// DefaultRows. ICL tasks include a description with DescriptionProb.
// Coverage tasks give their prompt ("both" condition: description and the
// three examples, one row per requested row). Distributional tasks give
// prompt rows with Targets and TargetProbs. Tasks that need downloads return
// an error wrapping ErrNotOffline.
func (t *Task) Generate(seed int64, rows int) ([]Row, error) {
	return t.GenerateWith(seed, rows, t.DescriptionProb)
}

// GenerateWith is Generate with an explicit description probability in [0, 1]
// (ICL tasks only; e.g. PaperDescriptionProb).
func (t *Task) GenerateWith(seed int64, rows int, descriptionProb float64) ([]Row, error) {
	if !t.Offline || t.gen == nil {
		return nil, fmt.Errorf("%s: %w (reference: %s); import its rows as JSONL instead", t.Name, ErrNotOffline, t.Source)
	}
	if descriptionProb < 0 || descriptionProb > 1 || descriptionProb != descriptionProb {
		return nil, fmt.Errorf("%s: description probability %v is not in [0, 1]", t.Name, descriptionProb)
	}
	if rows <= 0 {
		rows = t.DefaultRows
	}
	return t.gen(t, seed, rows, descriptionProb)
}

// Validate reports whether a generation is valid for a coverage task, with
// the reference validator's exact semantics (it receives the stripped first
// line of a generation, reference §5.2). It is false for other kinds.
func (t *Task) Validate(text string) bool {
	if t.validate == nil {
		return false
	}
	return t.validate(text)
}

// CoverageMessages returns a coverage task's prompt messages for one of the
// reference's prompt conditions: description only, examples only, or both.
func (t *Task) CoverageMessages(includeDescription, includeExamples bool) []Message {
	var msgs []Message
	if includeDescription && len(t.Descriptions) > 0 {
		msgs = append(msgs, Message{RoleDescription, t.Descriptions[0]})
	}
	if includeExamples {
		for _, ex := range t.Examples {
			msgs = append(msgs, Message{RoleOutput, ex})
		}
	}
	return msgs
}

var registry []*Task

func register(t *Task) {
	t.Split = SplitOf(t.Name)
	if t.Kind == KindICL && t.DescriptionProb == 0 {
		t.DescriptionProb = DefaultDescriptionProb
	}
	for _, o := range registry {
		if o.Name == t.Name {
			panic("suite: task registered twice: " + t.Name)
		}
	}
	registry = append(registry, t)
}

// Tasks returns every known task: the offline built-ins and, marked
// Offline=false, the reference's tasks that need downloaded data (listed so
// that their names, kinds and splits are known). Sorted by kind (icl,
// coverage, distributional), then name.
func Tasks() []*Task {
	out := append([]*Task(nil), registry...)
	order := map[Kind]int{KindICL: 0, KindCoverage: 1, KindDistributional: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return order[out[i].Kind] < order[out[j].Kind]
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Lookup returns the task with the given name. An unknown name is an error
// that lists the known task names (and close matches first).
func Lookup(name string) (*Task, error) {
	for _, t := range registry {
		if t.Name == name {
			return t, nil
		}
	}
	names := make([]string, 0, len(registry))
	var close []string
	for _, t := range Tasks() {
		names = append(names, t.Name)
		if len(name) >= 3 && (strings.Contains(t.Name, name) || strings.Contains(name, t.Name) || (len(name) >= 4 && editDistance(name, t.Name) <= 2)) {
			close = append(close, t.Name)
		}
	}
	hint := ""
	if len(close) > 0 && len(close) <= 8 {
		hint = fmt.Sprintf(" (did you mean %s?)", strings.Join(close, ", "))
	}
	return nil, fmt.Errorf("unknown task %q%s; known tasks: %s", name, hint, strings.Join(names, ", "))
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			c := prev[j-1]
			if ra[i-1] != rb[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
