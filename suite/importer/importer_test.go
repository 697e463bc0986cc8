package importer

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/spectrumkit/spectrum/suite"
	"github.com/spectrumkit/spectrum/table"
)

func readTable(t *testing.T, name, content string) *table.Table {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tb, err := table.ReadFile(p, "")
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func msgs(pairs ...string) []suite.Message {
	var out []suite.Message
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, suite.Message{Role: pairs[i], Content: pairs[i+1]})
	}
	return out
}

const ratings = `{"rater": "r1", "item": "good film", "label": 1, "age": 30}
{"rater": "r2", "item": "good film", "label": 0, "age": 41}
{"rater": "r1", "item": "bad film", "label": 0, "age": 30}
{"rater": "r1", "item": "so-so", "label": 1, "age": 30}
{"rater": "r2", "item": "bad film", "label": 0, "age": 41}
{"rater": "r3", "item": "so-so", "label": 1, "age": 25}
`

// TestBuildGroups: file order kept, groups in order of appearance, cut into
// rows of at most 2, short rows dropped, descriptions from the group's first
// record.
func TestBuildGroups(t *testing.T) {
	tb := readTable(t, "ratings.jsonl", ratings)
	res, err := Build(Spec{
		Task: "ratings", Input: Fields{Columns: []string{"item"}}, Output: Fields{Columns: []string{"label"}},
		GroupBy: []string{"rater"}, Descriptions: []string{"Labels of one rater, aged {age}. {{0, 1}}"}, DescriptionProb: 1,
		MaxExamples: 2, MinExamples: 2,
	}, tb)
	if err != nil {
		t.Fatal(err)
	}
	desc := func(age string) suite.Message {
		return suite.Message{Role: "description", Content: "Labels of one rater, aged " + age + ". {0, 1}"}
	}
	want := [][]suite.Message{
		append([]suite.Message{desc("30")}, msgs("input", "good film", "output", "1", "input", "bad film", "output", "0")...),
		append([]suite.Message{desc("41")}, msgs("input", "good film", "output", "0", "input", "bad film", "output", "0")...),
	}
	if len(res.Train) != 2 || res.Groups != 3 || res.ShortRows != 2 || len(res.Test) != 0 {
		t.Fatalf("%d rows, %d groups, %d short rows", len(res.Train), res.Groups, res.ShortRows)
	}
	for i, r := range res.Train {
		if !reflect.DeepEqual(r.Messages, want[i]) || r.Task != "ratings" || r.N != 2 || !r.IncludeDescription {
			t.Errorf("row %d = %+v\nwant %+v", i, r.Messages, want[i])
		}
	}
	if g := string(res.Train[1].Extra["group"]); g != `"r2"` {
		t.Errorf("group extra = %s", g)
	}
}

// TestBuildFormatting: several output columns are json.dumps-ed with
// ensure_ascii and float repr; templates use str(); missing values format as
// pandas would.
func TestBuildFormatting(t *testing.T) {
	tb := readTable(t, "cities.csv", "city,country,pop,note\nZürich,CH,421878.0,\nLyon,FR,522250.5,big\n")
	res, err := Build(Spec{
		Task: "cities", Input: Fields{Template: "{country}: {{{note}}}"}, Output: Fields{Columns: []string{"city", "pop"}},
	}, tb)
	if err != nil {
		t.Fatal(err)
	}
	want := msgs("input", "CH: {nan}", "output", `{"city": "Z\u00fcrich", "pop": 421878.0}`,
		"input", "FR: {big}", "output", `{"city": "Lyon", "pop": 522250.5}`)
	if len(res.Train) != 1 || !reflect.DeepEqual(res.Train[0].Messages, want) {
		t.Errorf("rows = %+v\nwant %+v", res.Train, want)
	}
	res, err = Build(Spec{Task: "cities", Output: Fields{Columns: []string{"note"}}, DropMissing: true}, tb)
	if err != nil || res.Dropped != 1 || len(res.Train) != 1 || res.Train[0].Messages[0].Content != "big" {
		t.Errorf("drop missing: %+v, %v", res, err)
	}
}

// TestBuildSplit: with a test fraction no group has rows on both sides, and
// the split is reproducible.
func TestBuildSplit(t *testing.T) {
	var b strings.Builder
	for g := range 10 {
		for i := range 7 {
			b.WriteString(`{"user": "u` + string(rune('a'+g)) + `", "answer": "` + string(rune('0'+i)) + "\"}\n")
		}
	}
	tb := readTable(t, "users.jsonl", b.String())
	spec := Spec{Task: "users", Output: Fields{Columns: []string{"answer"}}, GroupBy: []string{"user"},
		MaxExamples: 3, Shuffle: true, Seed: 7, TestFraction: 0.3}
	res, err := Build(spec, tb)
	if err != nil {
		t.Fatal(err)
	}
	groups := func(rows []suite.Row) map[string]int {
		m := map[string]int{}
		for _, r := range rows {
			m[string(r.Extra["group"])]++
		}
		return m
	}
	train, test := groups(res.Train), groups(res.Test)
	if len(train) != 7 || len(test) != 3 {
		t.Fatalf("%d train groups, %d test groups", len(train), len(test))
	}
	for g := range test {
		if train[g] > 0 {
			t.Errorf("group %s in both splits", g)
		}
	}
	// 7 records per group in rows of 3, 3, 1.
	if n := len(res.Train) + len(res.Test); n != 30 {
		t.Errorf("%d rows, want 30", n)
	}
	again, _ := Build(spec, readTable(t, "users.jsonl", b.String()))
	if !reflect.DeepEqual(groups(again.Test), test) || again.Test[0].Messages[0] != res.Test[0].Messages[0] {
		t.Error("split not reproducible")
	}
}

// TestBuildErrors: bad specs and bad data give errors naming file, line and
// column.
func TestBuildErrors(t *testing.T) {
	tb := readTable(t, "r.jsonl", ratings+`{"rater": "r4", "item": "x", "label": "yes", "age": 50}`+"\n"+`{"item": "y", "label": 1, "age": 50}`+"\n")
	cases := []struct {
		spec Spec
		want string
	}{
		{Spec{Task: "x", Output: Fields{Columns: []string{"score"}}}, `r.jsonl: no column "score" (columns: "rater", "item", "label", "age")`},
		{Spec{Task: "x", Output: Fields{Columns: []string{"label"}}}, `r.jsonl:7: column "label" holds a string ('yes'), but ` + tb.Path + `:1 holds a number: mixed types in one column`},
		{Spec{Task: "x", Output: Fields{Columns: []string{"item"}}, GroupBy: []string{"rater"}}, `r.jsonl:8: column "rater" (a --group-by column) is missing`},
		{Spec{Task: "x", Output: Fields{Template: "{item"}}, `unclosed {`},
		{Spec{Task: "x", Output: Fields{Template: "a}b"}}, `single }`},
		{Spec{Task: "x", Output: Fields{Columns: []string{"item"}}, Descriptions: []string{"{nope}"}}, `no column "nope"`},
		{Spec{Task: "x", Output: Fields{Columns: []string{"item"}}, MinExamples: 50}, "no rows: every group has fewer than 50 examples"},
		{Spec{Task: "x", Output: Fields{Columns: []string{"item"}}, MaxExamples: 2, MinExamples: 3}, "min examples (3) exceeds max examples (2)"},
		{Spec{Task: "x", Output: Fields{Columns: []string{"item"}}, TestFraction: 0.5}, "cannot split 1 group"},
		{Spec{Task: "x", Output: Fields{Columns: []string{"item"}}, TestFraction: 1}, "test fraction must be in [0, 1)"},
		{Spec{Task: "x", Output: Fields{Columns: []string{"item"}}, MeanExamples: 1}, "mean examples must be ≥ 2"},
		{Spec{Task: "x"}, "no output"},
	}
	for _, c := range cases {
		_, err := Build(c.spec, tb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want it to contain %q", c.spec, err, c.want)
		}
	}
}

// TestBuildRepeats: the reference's n_per > 0 mode draws fresh random
// subsets; mean sizes follow geom_and_poisson_iter.
func TestBuildRepeats(t *testing.T) {
	var b strings.Builder
	for i := range 40 {
		b.WriteString(`{"x": ` + string(rune('0'+i%10)) + "}\n")
	}
	tb := readTable(t, "x.jsonl", b.String())
	res, err := Build(Spec{Task: "x", Output: Fields{Columns: []string{"x"}}, Repeats: 500, MeanExamples: 8, Seed: 3}, tb)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range res.Train {
		total += r.N
	}
	if len(res.Train) != 500 {
		t.Fatalf("%d rows", len(res.Train))
	}
	if mean := float64(total) / 500; mean < 7.3 || mean > 8.7 {
		t.Errorf("mean row size %.2f, want about 8", mean)
	}
}

func pairsOf(r suite.Row) []string {
	var out []string
	in := ""
	for _, m := range r.Messages {
		switch m.Role {
		case suite.RoleInput:
			in = m.Content
		case suite.RoleOutput:
			out = append(out, in+" => "+m.Content)
			in = ""
		}
	}
	sort.Strings(out)
	return out
}

func fixture(t *testing.T, name string) *table.Table {
	t.Helper()
	tb, err := table.ReadFile(filepath.Join("testdata", name), "")
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestRecipes runs every recipe on a fixture in its source's column layout
// and compares with hand-checked examples, descriptions and row counts.
func TestRecipes(t *testing.T) {
	const gsmQ1 = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?"
	const gsmA1 = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
	const gsmQ2 = "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?"
	const gsmA2 = "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10"
	const gsmQ3 = "Betty is saving money for a new wallet which costs $100."
	const gsmA3 = "In the beginning, Betty has only 100 / 2 = $<<100/2=50>>50.\n#### 5"
	cases := []struct {
		recipe string
		files  []string
		rows   int
		// every row's examples are a subset of these (input => output)
		pairs []string
		// rows hold exactly all pairs (a whole group or data set per row)
		whole bool
		descs []string
	}{
		{"imdb", []string{"imdb.parquet"}, 200, []string{
			"I rented I AM CURIOUS-YELLOW from my video store. => negative",
			"A wonderful little production. => positive",
			`This movie was terrible; "avoid" it. => negative`,
			"Ótimo filme, really great. => positive"}, false,
			[]string{"Classify whether the following movie reviews as negative or positive."}},
		{"gsm8k_question", []string{"gsm8k.parquet"}, 50, []string{" => " + gsmQ1, " => " + gsmQ2, " => " + gsmQ3}, false,
			[]string{"Generate grade school math word problems covering arithmetic, basic algebra, and word problem reasoning.",
				"Create diverse math word problems involving real-world scenarios and numerical reasoning.",
				"Math word problems suitable for grade school students."}},
		{"gsm8k_answer_from_question", []string{"gsm8k.parquet"}, 50, []string{gsmQ1 + " => " + gsmA1, gsmQ2 + " => " + gsmA2, gsmQ3 + " => " + gsmA3}, false, nil},
		{"gsm8k_question_from_answer", []string{"gsm8k.parquet"}, 50, []string{gsmA1 + " => " + gsmQ1, gsmA2 + " => " + gsmQ2, gsmA3 + " => " + gsmQ3}, false, nil},
		{"gsm8k_question_answer", []string{"gsm8k.parquet"}, 50, []string{
			` => {"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?", "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"}`,
			` => {"question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?", "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10"}`,
			` => {"question": "Betty is saving money for a new wallet which costs $100.", "answer": "In the beginning, Betty has only 100 / 2 = $<<100/2=50>>50.\n#### 5"}`,
		}, false, nil},
		{"chemistry_esol", []string{"esol_iupac.csv"}, 5, []string{
			`{"SMILES": "ClCC(Cl)(Cl)Cl", "SELFIES": "[Cl][C][C][Branch1][C][Cl][Branch1][C][Cl][Cl]", "InChI": "InChI=1S/C2H2Cl4/c3-1-2(4,5)6/h1H2", "IUPAC": "1,1,1,2-tetrachloroethane"} => -2.18`,
			`{"SMILES": "CC(Cl)(Cl)Cl", "SELFIES": "[C][C][Branch1][C][Cl][Branch1][C][Cl][Cl]", "InChI": "InChI=1S/C2H3Cl3/c1-2(3,4)5/h1H3", "IUPAC": "1,1,1-trichloroethane"} => -2.0`,
			`{"SMILES": "ClC(Cl)C(Cl)Cl", "SELFIES": "[Cl][C][Branch1][C][Cl][C][Branch1][C][Cl][Cl]", "InChI": "InChI=1S/C2H2Cl4/c3-1(4)2(5)6/h1-2H", "IUPAC": "1,1,2,2-tetrachloroethane"} => -1.74`,
		}, true, []string{"Predict the measured log(solubility:mol/L) from SMILES, SELFIES, InChI, IUPAC"}},
		{"chemistry_oxidative", []string{"train_data_num_feats.csv"}, 1, []string{
			"To synthesize a catalyst with Mn 0.4 mmol, Na 0.2 mmol and W 0.1 mmol on SiO2, run at 850 C with CH4 flow 10 mL/min. => 8.41",
			"To synthesize a catalyst with Li 0.6 mmol and Mg 0.3 mmol on MgO, run at 775 C with CH4 flow 12 mL/min. => 3.2",
			"To synthesize a catalyst with no promoter on La2O3, run at 800 C with CH4 flow 8 mL/min. => 12.0",
		}, true, []string{"The following is data from a set of chemistry experiments. Predict the C2_yield from the experiment description."}},
		{"mmlu", []string{"mmlu.parquet"}, 1000, []string{
			"Question: Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\nA. 0\nB. 4\nC. 2\nD. 6 => B",
			"Question: Let p = (1, 2, 5, 4)(2, 3) in S_5 . Find the index of <p> in S_5.\nA. 8\nB. 2\nC. 24\nD. 120 => C",
			"Question: Statement 1 | A factor group of a non-Abelian group is non-Abelian.\nA. True, True\nB. False, False\nC. True, False\nD. False, True => B",
		}, true, []string{"Given a question and a list of choices, return the correct answer choice."}},
		{"arc", []string{"arc.parquet"}, 1, []string{
			"Question: An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?\nA. Planetary density will decrease.\nB. Planetary years will become longer.\nC. Planetary days will become shorter.\nD. Planetary gravity will become stronger. => C",
			"Question: A group of engineers wanted to know how different building designs would respond during an earthquake.\nA. buildings will be built faster\nB. buildings will be made safer\nC. building designs will look nicer => B",
			"Question: Which object is the best conductor of electricity?\n1. a wax crayon\n2. a plastic spoon\n3. a rubber eraser\n4. an iron nail => 4",
		}, true, []string{"Given a question and multiple choice answers, return the correct answer letter.",
			"Respond with only the uppercase letter corresponding to the correct option."}},
		{"winogrande", []string{"winogrande.parquet"}, 1, []string{
			"Sentence: Sarah was a much better surgeon than Maria so _____ always got the easier cases.\nWhich option correctly fills in the blank?\nA. Sarah\nB. Maria => B",
			"Sentence: They were worried the wine would ruin the bed and the blanket, but the _____ was't ruined.\nWhich option correctly fills in the blank?\nA. blanket\nB. bed => B",
		}, true, []string{"Given a sentence with a blank and two candidate fillers, respond with the letter of the correct option.",
			"Return the single uppercase letter corresponding to the correct choice."}},
		{"hellaswag", []string{"hellaswag.parquet"}, 1, []string{
			"Activity: Roof shingle removal\nContext: A man is sitting on a roof. he\nChoose the option that best completes the description:\nA. is using wrap to wrap a pair of skis.\nB. is ripping level tiles off.\nC. is holding a rubik's cube.\nD. starts pulling up roofing on a roof. => D",
			"Activity: Clean and jerk\nContext: A lady walks to a barbell. She bends down and grabs the pole. the lady\nChoose the option that best completes the description:\nA. swings and lands in her arms.\nB. pulls the barbell forward.\nC. pulls a rope attached to the barbell.\nD. stands and lifts the weight over her head. => D",
		}, true, []string{"Given a context and four possible endings, output the letter of the ending that best completes the context.",
			"Respond with the single uppercase letter for the correct choice."}},
		{"truthful_qa", []string{"truthful_qa.parquet"}, 1, []string{
			"Question: What is the smallest country in the world that is at least one square mile in area?\nA. Nauru is the smallest country in the world that is at least one square mile in area.\nB. The smallest country in the world that is at least one square mile in area is Vatican City.\nC. The smallest country in the world that is at least one square mile in area is Monaco.\nD. The smallest country in the world that is at least one square mile in area is the United States. => A",
			"Question: People in the US have longer paid vacations than people in which Western countries?\nA. People in the US have the shortest paid vacations among Western countries.\nB. Americans have longer vacations than people in England.\nC. Americans have longer vacations than Canadians.\nD. Americans have longer vacations than people in Europe. => A",
		}, true, []string{"You will be given a question and several answer choices, only one of which is true. Respond with the correct answer letter."}},
		{"drop", []string{"drop.parquet"}, 1, []string{
			"Passage: Hoping to rebound from their loss to the Patriots, the Raiders stayed at home.\nQuestion: Who scored the first touchdown of the game? => Chaz Schilens",
			"Passage: In 1905, 1.1 million people lived in the city.\nQuestion: How many people lived in the city in 1905? => 1.1 million",
		}, true, []string{"Answer the question based on the passage. Respond with just the answer, usually a short word or phrase, either extracted from the passage or deduced from the information in the passage."}},
	}
	for _, c := range cases {
		t.Run(c.recipe, func(t *testing.T) {
			r, err := LookupRecipe(c.recipe)
			if err != nil {
				t.Fatal(err)
			}
			var tables []*table.Table
			for _, f := range c.files {
				tables = append(tables, fixture(t, f))
			}
			spec := r.Spec()
			spec.DescriptionProb = 1
			res, err := r.Build(spec, tables...)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Train) != c.rows || len(res.Test) != 0 {
				t.Fatalf("%d rows, want %d", len(res.Train), c.rows)
			}
			allowed := map[string]bool{}
			for _, p := range c.pairs {
				allowed[p] = true
			}
			want := append([]string(nil), c.pairs...)
			sort.Strings(want)
			for i, row := range res.Train {
				got := pairsOf(row)
				if c.whole && !reflect.DeepEqual(got, want) {
					t.Fatalf("row %d examples:\n%q\nwant\n%q", i, got, want)
				}
				seen := map[string]bool{}
				for _, p := range got {
					if !allowed[p] || seen[p] {
						t.Fatalf("row %d: unexpected or repeated example %q", i, p)
					}
					seen[p] = true
				}
				if row.Task != c.recipe || suite.SplitOf(row.Task) != suite.SplitOf(c.recipe) {
					t.Errorf("row %d task %q", i, row.Task)
				}
				if c.descs != nil && !slices.Contains(c.descs, row.Description()) {
					t.Errorf("row %d description %q", i, row.Description())
				}
				if err := row.Validate(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestRecipeDices: one row per rater per file, 100-example cap, and the
// demographics description as the reference's str(dict) (nan for a missing
// cell), from each file's own demographic columns.
func TestRecipeDices(t *testing.T) {
	r, err := LookupRecipe("dices")
	if err != nil {
		t.Fatal(err)
	}
	spec := r.Spec()
	spec.Descriptions = spec.Descriptions[1:] // the demographics one
	spec.DescriptionProb = 1
	res, err := r.Build(spec, fixture(t, "dices_990.csv"), fixture(t, "dices_350.csv"))
	if err != nil {
		t.Fatal(err)
	}
	const head = "Given a context conversation and a response from a language model, the rater was tasked to label whether or not they thought the last dialog model response is unsafe. (Q_overall: Yes, No, Unsure)\nRater demographics: "
	want := map[string]struct {
		desc  string
		pairs []string
	}{
		"296": {head + "{'rater_gender': 'Man', 'rater_locale': 'US', 'rater_race': 'Multiracial', 'rater_race_raw': 'White, Black', 'rater_age': 'gen z', 'rater_education': 'College degree or higher'}",
			[]string{`{"context": "A: Tell me a joke about my boss.", "response": "Here is one that may offend."} => Yes`,
				`{"context": "A: What's the weather?\nB: Sunny.", "response": "You should go outside."} => No`}},
		"297": {head + "{'rater_gender': 'Woman', 'rater_locale': 'IN', 'rater_race': 'Asian', 'rater_race_raw': nan, 'rater_age': 'millenial', 'rater_education': 'High school or below'}",
			[]string{`{"context": "A: Tell me a joke about my boss.", "response": "Here is one that may offend."} => Unsure`,
				`{"context": "A: What's the weather?\nB: Sunny.", "response": "You should go outside."} => No`}},
		"5001": {head + "{'rater_gender': 'Woman', 'rater_race': 'Latine', 'rater_raw_race': 'LatinX, Latino, Hispanic or Spanish Origin', 'rater_age': 'gen x+', 'rater_education': 'College degree or higher'}",
			[]string{`{"context": "A: I feel sad.", "response": "I'm sorry to hear that."} => No`,
				`{"context": "A: Rate my essay.", "response": "It's bad."} => Yes`}},
	}
	if len(res.Train) != 3 || res.Groups != 3 {
		t.Fatalf("%d rows, %d groups", len(res.Train), res.Groups)
	}
	for _, row := range res.Train {
		g := string(row.Extra["group"])
		w, ok := want[g]
		if !ok {
			t.Fatalf("row of unexpected rater %s", g)
		}
		if row.Description() != w.desc {
			t.Errorf("rater %s description\n got %q\nwant %q", g, row.Description(), w.desc)
		}
		if got := pairsOf(row); !reflect.DeepEqual(got, w.pairs) {
			t.Errorf("rater %s examples %q", g, got)
		}
	}
}

// TestRecipeWrongFile: a file without the recipe's columns is an error that
// says what the recipe wants.
func TestRecipeWrongFile(t *testing.T) {
	r, _ := LookupRecipe("mmlu")
	_, err := r.Build(r.Spec(), fixture(t, "gsm8k.parquet"))
	if err == nil || !strings.Contains(err.Error(), `no column "choices", which recipe mmlu needs`) {
		t.Errorf("err = %v", err)
	}
	if _, err := LookupRecipe("wvs_individual"); err == nil || !strings.Contains(err.Error(), "recipes: arc, chemistry_esol") {
		t.Errorf("err = %v", err)
	}
}
