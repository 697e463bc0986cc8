package eval

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func plotReports() []*Report {
	curve := func(off float64) []CurvePoint {
		return []CurvePoint{
			{ExampleIndex: 0, Loss: Num(3 + off), AllAcc: 0.1, N: 4},
			{ExampleIndex: 1, Loss: Num(2 + off), AllAcc: Num(math.NaN()), N: 4},
			{ExampleIndex: 2, Loss: Num(1.5 + off), AllAcc: 0.6, N: 4},
		}
	}
	return []*Report{
		{Model: "/m/base.gguf", Steer: map[string]*SteerResult{"flight": {Curve: curve(0)}, "urn_draws": {Curve: curve(0.5)}}},
		{Model: "/m/base.gguf", Adapters: []AdapterInfo{{Path: "/m/tuned.gguf", Scale: 1}}, Steer: map[string]*SteerResult{"flight": {Curve: curve(-0.5)}}},
	}
}

var plotLegend = []string{"flight · base", "flight · base+tuned", "urn_draws · base"}

func TestPlotCurvesPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "curves.PNG")
	if err := PlotCurves(path, plotReports()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	_, legend, err := buildCurvePlots([]string{"flight", "urn_draws"}, plotReports())
	if err != nil {
		t.Fatal(err)
	}
	if len(legend) != len(plotLegend) {
		t.Fatalf("%d legend entries, want %d", len(legend), len(plotLegend))
	}
	for i, e := range legend {
		if e.name != plotLegend[i] {
			t.Errorf("legend entry %d = %q, want %q", i, e.name, plotLegend[i])
		}
	}
	w, h := plotSize(legend)
	wantW, wantH := int(w.Dots(plotDPI)+0.5), int(h.Dots(plotDPI)+0.5)
	if b := img.Bounds(); b.Dx() != wantW || b.Dy() != wantH {
		t.Errorf("PNG is %dx%d, want %dx%d", b.Dx(), b.Dy(), wantW, wantH)
	}
	// Not a blank canvas: the curves and text put dark pixels on it.
	dark := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r+g+bl < 3*0x8000 {
				dark++
			}
		}
	}
	if dark < 1000 {
		t.Errorf("PNG has only %d dark pixels", dark)
	}
}

func TestPlotCurvesSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "curves.svg")
	if err := PlotCurves(path, plotReports()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var texts []string
	var root string
	inText := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse as XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			inText = tok.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts = append(texts, strings.TrimSpace(string(tok)))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	all := "\n" + strings.Join(texts, "\n") + "\n"
	for _, want := range append(plotLegend, "loss vs in-context examples", "all_acc vs in-context examples") {
		if !strings.Contains(all, "\n"+want+"\n") {
			t.Errorf("SVG has no text %q; texts: %q", want, texts)
		}
	}
}

func TestPlotCurvesPDF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "curves.pdf")
	if err := PlotCurves(path, plotReports()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Errorf("PDF: %v %.20q", err, b)
	}
}

func TestPlotCurvesErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name    string
		reports []*Report
		want    string
	}{
		{"x.gif", plotReports(), "unsupported file extension"},
		{"x", plotReports(), "no file extension"},
		{"x.png", []*Report{{Model: "m.gguf"}}, "no steerability results"},
		{"x.png", []*Report{{Model: "m.gguf", Steer: map[string]*SteerResult{"t": {Curve: []CurvePoint{{Loss: Num(math.NaN()), AllAcc: Num(math.NaN())}}}}}}, "no finite"},
	} {
		path := filepath.Join(dir, c.name)
		err := PlotCurves(path, c.reports)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: written despite the error", c.name)
		}
	}
}

// TestPlotDiffs: the paired differences are drawn, one panel per kind of
// metric, with every comparison labelled; nothing to draw is an error.
func TestPlotDiffs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.svg")
	cs := []*PairedDiff{
		{Metric: "steer urn loss_geq_1", Model: "tuned", Delta: -0.5, Lo: -0.8, Hi: -0.2, Holds: true},
		{Metric: "dist urn js_divergence", Model: "tuned", Delta: 0.01, Lo: -0.02, Hi: 0.04},
	}
	if err := PlotDiffs(path, cs); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"steer urn loss_geq_1 · tuned", "dist urn js_divergence · tuned", "Δ loss_geq_1 (nats per output)", "Δ JS divergence (nats)"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the plot has no %q", want)
		}
	}
	if err := PlotDiffs(path, nil); err == nil {
		t.Error("no comparisons: no error")
	}
	if got := DiffsPath("out/curves.svg"); got != "out/curves-diffs.svg" {
		t.Errorf("DiffsPath = %s", got)
	}
}
