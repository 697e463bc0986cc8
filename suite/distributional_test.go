package suite

import (
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"testing"
)

var urnBall = regexp.MustCompile(`(\d+) (\w+) balls?`)

func TestUrn(t *testing.T) {
	rows := gen(t, "urn", 42, 1000)
	colorsSeen := map[int]int{}
	for _, r := range rows {
		if len(r.Messages) != 2 || r.Messages[0].Role != RoleDescription || r.Messages[1] != (Message{RoleInput, urnInput}) {
			t.Fatalf("messages %v", r.Messages)
		}
		k := len(r.Targets)
		colorsSeen[k]++
		if k < 2 || k > 5 || len(r.TargetProbs) != k {
			t.Fatalf("row %d: %d targets", r.Index, k)
		}
		sum := 0.0
		for _, p := range r.TargetProbs {
			sum += p
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("row %d: target probabilities sum to %v", r.Index, sum)
		}
		// the description lists the same colors and counts, in order
		d := r.Messages[0].Content
		m := urnBall.FindAllStringSubmatch(d, -1)
		if len(m) != k {
			t.Fatalf("description %q", d)
		}
		counts := make([]int, k)
		total := 0
		for i, e := range m {
			counts[i], _ = strconv.Atoi(e[1])
			total += counts[i]
			if e[2] != r.Targets[i] || !slices.Contains(urnColors, e[2]) || counts[i] < 1 || counts[i] > 10 {
				t.Errorf("row %d: ball %q vs target %q", r.Index, e[0], r.Targets[i])
			}
			if (counts[i] == 1) != (e[0] == "1 "+e[2]+" ball") {
				t.Errorf("row %d: %q", r.Index, e[0])
			}
		}
		for i, c := range counts {
			if math.Abs(r.TargetProbs[i]-float64(c)/float64(total)) > 1e-15 {
				t.Errorf("row %d: prob %v, want %d/%d", r.Index, r.TargetProbs[i], c, total)
			}
		}
		if want := urnDescription(r.Targets, counts); d != want {
			t.Errorf("description %q, want %q", d, want)
		}
		if uniq := slices.Compact(slices.Sorted(slices.Values(r.Targets))); len(uniq) != k {
			t.Errorf("row %d: repeated colors %v", r.Index, r.Targets)
		}
	}
	for k := 2; k <= 5; k++ { // num_colors uniform on 2..5
		if n := float64(colorsSeen[k]); math.Abs(n-250) > 4*math.Sqrt(1000*0.25*0.75) {
			t.Errorf("%d colors in %v of 1000 rows", k, n)
		}
	}
	want := "There is an urn with the following balls shuffled together: 3 red balls, 1 blue ball and 7 green balls."
	if got := urnDescription([]string{"red", "blue", "green"}, []int{3, 1, 7}); got != want {
		t.Errorf("urnDescription = %q", got)
	}
}

func TestStates(t *testing.T) {
	rows := gen(t, "states", 1, 1)
	r := rows[0]
	if len(r.Messages) != 1 || r.Messages[0] != (Message{RoleInput, "Name a U.S. state uniformly at random."}) || r.IncludeDescription {
		t.Fatalf("messages %v", r.Messages)
	}
	if len(r.Targets) != 50 || !sort.StringsAreSorted(r.Targets) || r.Targets[0] != "Alabama" || r.Targets[49] != "Wyoming" {
		t.Fatalf("targets %v", r.Targets)
	}
	sum := 0.0
	for _, p := range r.TargetProbs {
		if p != 0.02 {
			t.Errorf("prob %v", p)
		}
		sum += p
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("sum %v", sum)
	}
	if task, _ := Lookup("states"); task.OutputName != "Response (state)" || task.Split != SplitTrain {
		t.Errorf("states task %+v", task)
	}
}
