package suite

import (
	"sort"
	"strconv"
	"strings"
)

// The offline distributional-alignment tasks (distributional_alignment/
// distributional_tasks/urn.py and states.py, reference §5.3 and §6.3). A row
// holds the prompt messages (description?, input), the candidate outputs and
// their target probabilities.

var urnColors = []string{"red", "blue", "green", "yellow", "purple", "orange", "brown", "black", "white"}

const (
	urnDescriptionPrefix = "There is an urn with the following balls shuffled together: "
	urnInput             = "Draw a ball at random, and tell me the color (lowercase)."
	statesInput          = "Name a U.S. state uniformly at random."
)

// urnDescription is the reference's description for colors with counts.
func urnDescription(colors []string, counts []int) string {
	balls := make([]string, len(colors))
	for i, c := range colors {
		noun := "balls"
		if counts[i] == 1 {
			noun = "ball"
		}
		balls[i] = strconv.Itoa(counts[i]) + " " + c + " " + noun
	}
	return urnDescriptionPrefix + strings.Join(balls[:len(balls)-1], ", ") + " and " + balls[len(balls)-1] + "."
}

// urnGen is load_urn_dataset: per row 2–5 distinct colors, an upper bound of
// 1–10 balls per color and a count uniform in 1..bound; the targets are the
// colors in drawn order with probabilities count/total.
func urnGen(t *Task, seed int64, rows int, _ float64) ([]Row, error) {
	out := make([]Row, rows)
	for i := range out {
		r := newRowRNG(t.Name, seed, i)
		k := r.randint(2, 5)
		bounds := make([]int, k)
		for j := range bounds {
			bounds[j] = r.randint(1, 10)
		}
		perm := r.Perm(len(urnColors))
		colors := make([]string, k)
		for j := range colors {
			colors[j] = urnColors[perm[j]]
		}
		counts := make([]int, k)
		total := 0
		for j := range counts {
			counts[j] = r.randint(1, bounds[j])
			total += counts[j]
		}
		probs := make([]float64, k)
		for j, c := range counts {
			probs[j] = float64(c) / float64(total)
		}
		out[i] = Row{
			Task: t.Name,
			Messages: []Message{
				{RoleDescription, urnDescription(colors, counts)},
				{RoleInput, urnInput},
			},
			Seed: seed, Index: i, IncludeDescription: true,
			Targets: colors, TargetProbs: probs,
		}
		if err := out[i].SetExtra("counts", counts); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// statesGen is load_states_dataset: one prompt without description, the 50
// states in sorted order, each with probability 1/50.
func statesGen(t *Task, seed int64, rows int, _ float64) ([]Row, error) {
	states := USStates()
	sort.Strings(states)
	out := make([]Row, rows)
	for i := range out {
		probs := make([]float64, len(states))
		for j := range probs {
			probs[j] = 1.0 / float64(len(states))
		}
		out[i] = Row{
			Task: t.Name, Messages: []Message{{RoleInput, statesInput}},
			Seed: seed, Index: i, Targets: append([]string(nil), states...), TargetProbs: probs,
		}
	}
	return out, nil
}

func init() {
	register(&Task{Name: "urn", Kind: KindDistributional, Offline: true, DefaultRows: 1000,
		Source: "distributional_alignment/distributional_tasks/urn.py", OutputName: "Response (color)",
		Summary:      "urn of 2–5 colored balls → color, p = count/total",
		Descriptions: []string{urnDescriptionPrefix + "{count} {color} ball(s), … and {count} {color} ball(s)."},
		gen:          urnGen})
	register(&Task{Name: "states", Kind: KindDistributional, Offline: true, DefaultRows: 1,
		Source: "distributional_alignment/distributional_tasks/states.py", OutputName: "Response (state)",
		Summary: "\"" + statesInput + "\" → 50 states, uniform", gen: statesGen})
}
