package format_test

import (
	"fmt"

	"github.com/spectrumkit/spectrum/format"
)

func ExampleSpectrum_Render() {
	f, _ := format.NewSpectrum(format.FamilyGemma3)
	segs, _ := f.Render([]format.Message{
		{Role: "description", Content: "A fair coin"},
		{Role: "output", Content: "heads"},
	}, true)
	fmt.Printf("%q\n", format.ShowLoss(segs, "§", "§"))
	fmt.Printf("stop at %q\n", f.StopString())
	// Output:
	// "<start_of_turn>description\nA fair coin<end_of_turn>\n<start_of_turn>output\n§heads<end_of_turn>§\n<start_of_turn>output\n"
	// stop at "<end_of_turn>"
}

func ExampleColon_Render() {
	segs, _ := format.NewColon().Render([]format.Message{
		{Role: "input", Content: "2+2"},
		{Role: "output", Content: " 4 "},
	}, false)
	for _, s := range segs {
		fmt.Printf("%-5v %q\n", s.Loss, s.Text)
	}
	// Output:
	// false "Input: 2+2\n\n"
	// false "Output:"
	// true  " 4\n\n"
}
