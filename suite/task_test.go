package suite

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestIsTest(t *testing.T) {
	tests := []struct {
		name string
		test bool
	}{
		{"flight", true}, {"wvs_individual", true}, {"habermas_individual_categorical", true},
		{"habermas", true}, {"numbergame_perc", true}, {"numbergame", true}, {"globaloqa", true},
		{"chatbotarena_assistant", true}, {"novacomet_premise", true}, {"mmlu", true}, {"gpqa", true},
		{"arc", true}, {"drop", true}, {"truthful_qa", true}, {"chemistry_esol", true},
		{"chemistry_oxidative", true}, {"hellaswag", true}, {"winogrande", true},
		{"arcade_custom", true}, // prefix match, as the reference does
		{"coinflip", false}, {"normal", false}, {"babynames", false}, {"urn", false},
		{"global_oqa", false}, // not the globaloqa prefix
		{"my_flight", false}, {"", false}, {"chemistry", false},
	}
	for _, tt := range tests {
		if got := IsTest(tt.name); got != tt.test {
			t.Errorf("IsTest(%q) = %v, want %v", tt.name, got, tt.test)
		}
		want := SplitTrain
		if tt.test {
			want = SplitTest
		}
		if got := SplitOf(tt.name); got != want {
			t.Errorf("SplitOf(%q) = %v", tt.name, got)
		}
	}
}

func TestRegistry(t *testing.T) {
	byKind := map[Kind]int{}
	testICL := 0
	offline := map[Kind][]string{}
	for _, task := range Tasks() {
		byKind[task.Kind]++
		if task.Split != SplitOf(task.Name) {
			t.Errorf("%s: split %s, want %s", task.Name, task.Split, SplitOf(task.Name))
		}
		if task.Kind == KindICL && task.Split == SplitTest {
			testICL++
		}
		if task.Offline {
			offline[task.Kind] = append(offline[task.Kind], task.Name)
			if task.DefaultRows <= 0 {
				t.Errorf("%s: offline task without default rows", task.Name)
			}
		}
		got, err := Lookup(task.Name)
		if err != nil || got != task {
			t.Errorf("Lookup(%s) = %v, %v", task.Name, got, err)
		}
	}
	// default_data_map: 93 unique keys, 22 held out (reference §1.5)
	if byKind[KindICL] != 93 || testICL != 22 {
		t.Errorf("ICL tasks: %d (%d test), want 93 (22 test)", byKind[KindICL], testICL)
	}
	if byKind[KindCoverage] != 22 || len(offline[KindCoverage]) != 17 {
		t.Errorf("coverage tasks: %d (%d offline), want 22 (17 offline)", byKind[KindCoverage], len(offline[KindCoverage]))
	}
	if byKind[KindDistributional] != 8 || !reflect.DeepEqual(offline[KindDistributional], []string{"states", "urn"}) {
		t.Errorf("distributional tasks: %d, offline %v", byKind[KindDistributional], offline[KindDistributional])
	}
	wantICL := []string{"binomial", "cards", "categorical", "coinflip", "flight", "geometric", "geometric_beta",
		"hypergeometric", "multinomial", "negative_binomial", "normal", "poisson", "zipfian"}
	if !reflect.DeepEqual(offline[KindICL], wantICL) {
		t.Errorf("offline ICL tasks = %v, want %v", offline[KindICL], wantICL)
	}
	rows := map[string]int{"coinflip": 1000, "normal": 1000, "cards": 100, "poisson": 500, "zipfian": 500,
		"flight": 200, "urn": 1000, "states": 1, "rng_1_10": 1}
	for name, n := range rows {
		if task, _ := Lookup(name); task.DefaultRows != n {
			t.Errorf("%s: DefaultRows %d, want %d", name, task.DefaultRows, n)
		}
	}
	if task, _ := Lookup("normal"); task.DescriptionProb != 0.4 {
		t.Errorf("normal DescriptionProb = %v", task.DescriptionProb)
	}
	if task, _ := Lookup("poisson"); task.DescriptionProb != 0.6 {
		t.Errorf("poisson DescriptionProb = %v", task.DescriptionProb)
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := Lookup("coinflp")
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{`unknown task "coinflp"`, "did you mean coinflip", "known tasks:", "urn", "rng_1_10", "mmlu"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	task, _ := Lookup("mmlu")
	if _, err := task.Generate(1, 1); !errors.Is(err, ErrNotOffline) {
		t.Errorf("mmlu: err = %v, want ErrNotOffline", err)
	}
	task, _ = Lookup("coinflip")
	for _, p := range []float64{-0.1, 1.5} {
		if _, err := task.GenerateWith(1, 1, p); err == nil {
			t.Errorf("description probability %v accepted", p)
		}
	}
}
