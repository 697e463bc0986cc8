package eval

import (
	"fmt"
	"html"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/spectrumkit/spectrum/suite"
)

// PlotCurves draws, per steerability task, loss and all_acc against the
// number of in-context examples (example index), one line per report, into
// an SVG file (written atomically).
//
// gonum.org/v1/plot is not a dependency of the module yet (adding it means
// editing go.mod), so the SVG is written directly and PNG output is refused
// with an error until it is.
func PlotCurves(path string, reports []*Report) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
	case ".png":
		return fmt.Errorf("--plot %s: PNG output needs gonum.org/v1/plot, which this build does not include; use a .svg file", path)
	default:
		return fmt.Errorf("--plot %s: want a .svg file", path)
	}
	tasks := map[string]bool{}
	for _, r := range reports {
		for t := range r.Steer {
			tasks[t] = true
		}
	}
	if len(tasks) == 0 {
		return fmt.Errorf("--plot: no steerability results to plot")
	}
	names := sortedKeys(tasks)
	return suite.WriteFileAtomic(path, nil, func(w io.Writer) error {
		return writeSVG(w, names, reports)
	})
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

func writeSVG(w io.Writer, tasks []string, reports []*Report) error {
	const pw, ph, ml, mr, mt, mb = 420.0, 260.0, 60.0, 20.0, 30.0, 45.0
	width, height := 2*pw, ph*float64(len(tasks))+30+16*float64(len(reports))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for ti, task := range tasks {
		for mi, metric := range []string{"loss", "all_acc"} {
			x0, y0 := float64(mi)*pw, float64(ti)*ph
			// ranges
			xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
			for _, r := range reports {
				s := r.Steer[task]
				if s == nil {
					continue
				}
				for _, c := range s.Curve {
					v := float64(c.Loss)
					if metric == "all_acc" {
						v = float64(c.AllAcc)
					}
					if math.IsNaN(v) {
						continue
					}
					xmin, xmax = math.Min(xmin, float64(c.ExampleIndex)), math.Max(xmax, float64(c.ExampleIndex))
					ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
				}
			}
			if math.IsInf(xmin, 1) {
				continue
			}
			if metric == "all_acc" {
				ymin, ymax = 0, 1
			}
			if xmax == xmin {
				xmax = xmin + 1
			}
			if ymax == ymin {
				ymax = ymin + 1
			}
			px := func(x float64) float64 { return x0 + ml + (x-xmin)/(xmax-xmin)*(pw-ml-mr) }
			py := func(y float64) float64 { return y0 + mt + (1-(y-ymin)/(ymax-ymin))*(ph-mt-mb) }
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="13">%s: %s</text>`+"\n", x0+pw/2, y0+18, html.EscapeString(task), metric)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="black"/>`+"\n", x0+ml, y0+mt, pw-ml-mr, ph-mt-mb)
			for i := 0; i <= 4; i++ {
				yv := ymin + float64(i)/4*(ymax-ymin)
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.3g</text>`+"\n", x0+ml-4, py(yv)+4, yv)
				xv := xmin + float64(i)/4*(xmax-xmin)
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.3g</text>`+"\n", px(xv), y0+ph-mb+14, xv)
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">in-context examples (example index)</text>`+"\n", x0+ml+(pw-ml-mr)/2, y0+ph-mb+30)
			for ri, r := range reports {
				s := r.Steer[task]
				if s == nil {
					continue
				}
				var pts []string
				for _, c := range s.Curve {
					v := float64(c.Loss)
					if metric == "all_acc" {
						v = float64(c.AllAcc)
					}
					if !math.IsNaN(v) {
						pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(float64(c.ExampleIndex)), py(v)))
					}
				}
				col := palette[ri%len(palette)]
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", col, strings.Join(pts, " "))
			}
		}
	}
	for ri, r := range reports {
		y := ph*float64(len(tasks)) + 20 + 16*float64(ri)
		col := palette[ri%len(palette)]
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", ml, y-4, ml+24, y-4, col)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", ml+30, y, html.EscapeString(r.Label()))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
