package eval

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/spectrumkit/spectrum/suite"
)

// Plot layout: two panels (loss, all_acc) side by side, a legend below them.
const (
	plotPanelW   = 5 * vg.Inch
	plotPanelH   = 3.75 * vg.Inch
	plotMargin   = 8 * vg.Millimeter / 2 // around the legend block
	plotEntryGap = 4 * vg.Millimeter     // between legend columns
	plotDPI      = vgimg.DefaultDPI
)

// CheckPlotPath reports whether path names an image format PlotCurves can
// write, chosen by its extension: .png, .svg or .pdf (any case).
func CheckPlotPath(path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".svg", ".pdf":
		return nil
	case "":
		return fmt.Errorf("plot %s: no file extension (want .png, .svg or .pdf)", path)
	default:
		return fmt.Errorf("plot %s: unsupported file extension %q (want .png, .svg or .pdf)", path, filepath.Ext(path))
	}
}

// PlotCurves draws the steerability curves of reports, loss and all_acc
// against the number of in-context examples (example index), as two panels
// of one image with a line per task × model ("task · model label" in the
// legend). The format follows path's extension (see CheckPlotPath); the file
// is written atomically.
func PlotCurves(path string, reports []*Report) error {
	if err := CheckPlotPath(path); err != nil {
		return err
	}
	tasks := map[string]bool{}
	for _, r := range reports {
		for t := range r.Steer {
			tasks[t] = true
		}
	}
	if len(tasks) == 0 {
		return fmt.Errorf("plot %s: no steerability results to plot", path)
	}
	panels, legend, err := buildCurvePlots(sortedKeys(tasks), reports)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	w, h := plotSize(legend)
	cw := newCanvas(path, w, h)
	drawCurvePlots(draw.New(cw), panels, legend)
	return writeCanvas(path, cw)
}

// newCanvas is a w × h canvas of the image format path's extension names
// (checked by CheckPlotPath).
func newCanvas(path string, w, h vg.Length) vg.CanvasWriterTo {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		return vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(plotDPI))}
	case ".pdf":
		return vgpdf.New(w, h)
	}
	return vgsvg.New(w, h)
}

// writeCanvas writes the drawn canvas to path atomically.
func writeCanvas(path string, cw vg.CanvasWriterTo) error {
	return suite.WriteFileAtomic(path, nil, func(out io.Writer) error {
		_, err := cw.WriteTo(out)
		return err
	})
}

// legendEntry is one line of the plot's legend.
type legendEntry struct {
	name   string
	thumbs []plot.Thumbnailer
}

// buildCurvePlots makes the loss and all_acc panels and the legend entries.
// Colours tell models apart, dashes and glyphs tasks.
func buildCurvePlots(tasks []string, reports []*Report) ([2]*plot.Plot, []legendEntry, error) {
	var panels [2]*plot.Plot
	for i, metric := range []string{"loss", "all_acc"} {
		p := plot.New()
		p.Title.Text = metric + " vs in-context examples"
		p.X.Label.Text = "in-context examples (example index)"
		p.Y.Label.Text = metric
		p.X.Tick.Marker = intTicks{}
		p.Add(plotter.NewGrid())
		panels[i] = p
	}
	var legend []legendEntry
	for ti, task := range tasks {
		for ri, r := range reports {
			s := r.Steer[task]
			if s == nil || len(s.Curve) == 0 {
				continue
			}
			var loss, acc plotter.XYs
			for _, c := range s.Curve {
				x := float64(c.ExampleIndex)
				if v := float64(c.Loss); !math.IsNaN(v) && !math.IsInf(v, 0) {
					loss = append(loss, plotter.XY{X: x, Y: v})
				}
				if v := float64(c.AllAcc); !math.IsNaN(v) && !math.IsInf(v, 0) {
					acc = append(acc, plotter.XY{X: x, Y: v})
				}
			}
			var thumbs []plot.Thumbnailer
			for i, xys := range []plotter.XYs{loss, acc} {
				if len(xys) == 0 {
					continue
				}
				l, sc, err := plotter.NewLinePoints(xys)
				if err != nil {
					return panels, nil, err
				}
				l.Color = plotutil.Color(ri)
				l.Width = vg.Points(1.5)
				l.Dashes = plotutil.Dashes(ti)
				sc.Color = plotutil.Color(ri)
				sc.Shape = plotutil.Shape(ti)
				sc.Radius = vg.Points(3)
				panels[i].Add(l, sc)
				if thumbs == nil {
					thumbs = []plot.Thumbnailer{l, sc}
				}
			}
			if thumbs != nil {
				legend = append(legend, legendEntry{name: task + " · " + r.Label(), thumbs: thumbs})
			}
		}
	}
	if len(legend) == 0 {
		return panels, nil, fmt.Errorf("no finite steerability curve points to plot")
	}
	// all_acc is a fraction: always show the whole [0, 1] range.
	panels[1].Y.Min, panels[1].Y.Max = 0, 1
	return panels, legend, nil
}

// legendLayout arranges the legend entries in columns across the image
// width: the number of columns and rows, a column's width and the height of
// the whole legend block (margins included).
func legendLayout(entries []legendEntry) (cols, rows int, colW, blockH vg.Length) {
	sty := plot.NewLegend()
	var textW, enth vg.Length
	for _, e := range entries {
		r := sty.TextStyle.Rectangle(" " + e.name)
		textW = max(textW, r.Max.X)
		enth = max(enth, sty.TextStyle.Rectangle(e.name).Max.Y)
	}
	colW = sty.ThumbnailWidth + textW + plotEntryGap
	avail := 2*plotPanelW - 2*plotMargin
	cols = max(1, min(len(entries), int(avail/colW)))
	rows = (len(entries) + cols - 1) / cols
	blockH = vg.Length(rows)*enth + sty.TextStyle.FontExtents().Descent + 2*plotMargin
	return cols, rows, colW, blockH
}

// plotSize is the image size for a legend of these entries.
func plotSize(entries []legendEntry) (w, h vg.Length) {
	_, _, _, blockH := legendLayout(entries)
	return 2 * plotPanelW, plotPanelH + blockH
}

func drawCurvePlots(dc draw.Canvas, panels [2]*plot.Plot, entries []legendEntry) {
	cols, rows, colW, blockH := legendLayout(entries)
	top := dc
	top.Min.Y += blockH
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	cs := plot.Align([][]*plot.Plot{panels[:]}, tiles, top)
	for i, p := range panels {
		p.Draw(cs[0][i])
	}
	for c := 0; c < cols; c++ {
		l := plot.NewLegend()
		l.Left, l.Top = true, true
		for _, e := range entries[c*rows : min(len(entries), (c+1)*rows)] {
			l.Add(e.name, e.thumbs...)
		}
		col := dc
		col.Min.X = dc.Min.X + plotMargin + vg.Length(c)*colW
		col.Max.X = col.Min.X + colW
		col.Max.Y = dc.Min.Y + blockH - plotMargin
		col.Min.Y = dc.Min.Y + plotMargin
		l.Draw(col)
	}
}

// intTicks labels the example-index axis with whole numbers only.
type intTicks struct{}

func (intTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		if t.Value != math.Trunc(t.Value) {
			continue
		}
		if t.Label != "" {
			t.Label = strconv.FormatInt(int64(t.Value), 10)
		}
		out = append(out, t)
	}
	return out
}

// holdsColor marks the differences that hold after Holm's correction.
var holdsColor = color.RGBA{R: 200, G: 30, B: 30, A: 255}

// DiffsPath is where PlotDiffs draws for a --plot path: "-diffs" before
// the extension (curves.svg → curves-diffs.svg).
func DiffsPath(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-diffs" + ext
}

// diffKind groups comparisons whose values share a scale, one panel each.
func diffKind(metric string) string {
	switch {
	case strings.HasSuffix(metric, "loss_geq_1"):
		return "Δ loss_geq_1 (nats per output)"
	case strings.Contains(metric, "unique_valid_count"):
		return "Δ unique_valid_count (per task)"
	case strings.Contains(metric, "js_divergence"):
		return "Δ JS divergence (nats)"
	}
	return "Δ share (all_acc_geq_1, percent_valid, unique_gens_pct)"
}

// PlotDiffs draws the paired comparisons as intervals: per comparison a
// point at Δ and a bar over its 95 % interval, a line at 0, red where the
// difference holds after Holm's correction; one panel per kind of metric
// (each with its own scale), stacked. The format follows path's extension;
// the file is written atomically.
func PlotDiffs(path string, cs []*PairedDiff) error {
	if err := CheckPlotPath(path); err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("plot %s: no comparisons to plot", path)
	}
	groups := map[string][]*PairedDiff{}
	for _, c := range cs {
		k := diffKind(c.Metric)
		groups[k] = append(groups[k], c)
	}
	kinds := sortedKeys(groups)
	var plots []*plot.Plot
	var heights []vg.Length
	for _, k := range kinds {
		g := groups[k]
		p := plot.New()
		p.Title.Text = k
		var labels []string
		for i, c := range g {
			y := float64(len(g) - 1 - i)
			labels = append([]string{c.Metric + " · " + c.Model}, labels...)
			pts := plotter.XYs{{X: float64(c.Delta), Y: y}}
			lo, hi := float64(c.Delta)-float64(c.Lo), float64(c.Hi)-float64(c.Delta)
			if math.IsNaN(lo) || math.IsNaN(hi) {
				lo, hi = 0, 0
			}
			bars, err := plotter.NewXErrorBars(struct {
				plotter.XYer
				plotter.XErrorer
			}{pts, plotter.XErrors{{Low: lo, High: hi}}})
			if err != nil {
				return fmt.Errorf("plot %s: %w", path, err)
			}
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return fmt.Errorf("plot %s: %w", path, err)
			}
			if c.Holds {
				bars.LineStyle.Color = holdsColor
				sc.GlyphStyle.Color = holdsColor
			}
			bars.LineStyle.Width = vg.Points(1.5)
			p.Add(bars, sc)
		}
		line, err := plotter.NewLine(plotter.XYs{{X: 0, Y: -0.5}, {X: 0, Y: float64(len(g)) - 0.5}})
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		line.LineStyle.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(line)
		p.NominalY(labels...)
		p.Y.Min, p.Y.Max = -0.5, float64(len(g))-0.5
		// The x range holds 0 and every interval, with a margin.
		xlo, xhi := 0.0, 0.0
		for _, c := range g {
			for _, v := range []float64{float64(c.Lo), float64(c.Hi), float64(c.Delta)} {
				if !math.IsNaN(v) {
					xlo, xhi = math.Min(xlo, v), math.Max(xhi, v)
				}
			}
		}
		if xhi-xlo == 0 { // nothing differs: a unit scale around 0
			xlo, xhi = -1, 1
		}
		pad := 0.05 * (xhi - xlo)
		p.X.Min, p.X.Max = xlo-pad, xhi+pad
		plots = append(plots, p)
		heights = append(heights, vg.Length(len(g))*vg.Points(22)+vg.Inch)
	}
	w := 9 * vg.Inch
	var h vg.Length
	for _, x := range heights {
		h += x
	}
	cw := newCanvas(path, w, h)
	dc := draw.New(cw)
	top := dc.Max.Y
	for i, p := range plots {
		c := dc
		c.Max.Y = top
		c.Min.Y = top - heights[i]
		top = c.Min.Y
		p.Draw(c)
	}
	return writeCanvas(path, cw)
}
