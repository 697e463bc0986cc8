// Command curves draws the recipe study's learning curves (issue 19): each
// held-out metric against the training tokens a configuration had seen when
// its adapter was written (tune --save-every), with the base model in the
// colon format (the reference) and in the spectrum format as horizontal lines.
//
//	go run ./scripts/curves study/out study/curves.svg   (or .png)
//
// It reads OUT/steer.json and OUT/dist.json (eval --compare with the
// snapshots, scripts/study.sh with SNAPSHOTS=1) and each run's
// OUT/runs/NAME/train-log.jsonl for the tokens at each step.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

type report struct {
	Models []struct {
		Model    string `json:"model"`
		Adapters []struct {
			Path string `json:"path"`
		} `json:"adapters"`
		Format string                                `json:"format"`
		Steer  map[string]map[string]json.RawMessage `json:"steer"`
		Dist   map[string]map[string]json.RawMessage `json:"dist"`
	} `json:"models"`
}

// point is one model of a comparison: a configuration at a step, or a base
// reference (config "" and the format).
type point struct {
	config string
	step   int // 0: the run's final adapter
	format string
	values map[string]float64 // "steer TASK loss_geq_1", "dist TASK js_divergence"
}

var snap = regexp.MustCompile(`^(.+?)(?:-step(\d+))?(?:-merged)?$`)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: curves STUDY_OUT OUT.svg")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "curves:", err)
		os.Exit(1)
	}
}

func run(out, svg string) error {
	var points []*point
	byKey := map[string]*point{}
	for _, kind := range []string{"steer", "dist"} {
		var r report
		b, err := os.ReadFile(filepath.Join(out, kind+".json"))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s.json: %v", kind, err)
		}
		for _, m := range r.Models {
			file := m.Model
			if len(m.Adapters) > 0 {
				file = m.Adapters[len(m.Adapters)-1].Path
			}
			p := &point{format: m.Format, values: map[string]float64{}}
			if len(m.Adapters) > 0 || strings.HasSuffix(file, "-merged.gguf") {
				g := snap.FindStringSubmatch(strings.TrimSuffix(filepath.Base(file), ".gguf"))
				p.config = g[1]
				p.step, _ = strconv.Atoi(g[2])
			}
			key := p.config + "@" + strconv.Itoa(p.step) + "@" + p.format
			if q, ok := byKey[key]; ok {
				p = q
			} else {
				byKey[key] = p
				points = append(points, p)
			}
			add := func(metric string, raw json.RawMessage) {
				var v *float64
				if json.Unmarshal(raw, &v) == nil && v != nil {
					p.values[metric] = *v
					return
				}
				var s struct{ Mean *float64 }
				if json.Unmarshal(raw, &s) == nil && s.Mean != nil {
					p.values[metric] = *s.Mean
				}
			}
			for task, ms := range m.Steer {
				add("steer "+task+" loss_geq_1", ms["loss_geq_1"])
			}
			for task, ms := range m.Dist {
				add("dist "+task+" js_divergence", ms["js_divergence"])
			}
		}
	}
	// Tokens seen at each step, from each run's training log; a final
	// adapter is at the run's last step.
	tokens := map[string][]float64{} // config → cumulative tokens by step (index step)
	for _, p := range points {
		if p.config == "" || tokens[p.config] != nil {
			continue
		}
		cum, err := readTokens(filepath.Join(out, "runs", p.config, "train-log.jsonl"))
		if err != nil {
			return err
		}
		tokens[p.config] = cum
	}
	var metrics []string
	for _, p := range points {
		for k := range p.values {
			if !slices.Contains(metrics, k) {
				metrics = append(metrics, k)
			}
		}
	}
	sort.Strings(metrics)
	var configs []string
	for _, p := range points {
		if p.config != "" && !slices.Contains(configs, p.config) {
			configs = append(configs, p.config)
		}
	}

	cols := 3
	rows := (len(metrics) + cols - 1) / cols
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, metric := range metrics {
		pl := plot.New()
		pl.Title.Text = metric + " (lower is better)"
		pl.X.Label.Text = "training tokens (thousands)"
		pl.Legend.Top = true
		pl.Legend.TextStyle.Font.Size = vg.Points(7)
		maxX := 0.0
		// Step 0 of every run is the base model in the spectrum format (LoRA
		// B and the token-row deltas start at 0).
		var start []plotter.XY
		for _, p := range points {
			if v, ok := p.values[metric]; ok && p.config == "" && p.format == "spectrum" {
				start = append(start, plotter.XY{X: 0, Y: v})
			}
		}
		for ci, c := range configs {
			xy := plotter.XYs(slices.Clone(start))
			for _, p := range points {
				v, ok := p.values[metric]
				if p.config != c || !ok {
					continue
				}
				cum := tokens[c]
				step := p.step
				if step == 0 {
					step = len(cum) - 1
				}
				if step >= len(cum) {
					return fmt.Errorf("%s: step %d is past its training log", c, step)
				}
				xy = append(xy, plotter.XY{X: cum[step] / 1000, Y: v})
			}
			sort.Slice(xy, func(a, b int) bool { return xy[a].X < xy[b].X })
			if len(xy) == 0 {
				continue
			}
			maxX = math.Max(maxX, xy[len(xy)-1].X)
			l, s, err := plotter.NewLinePoints(xy)
			if err != nil {
				return err
			}
			l.Color, s.Color = plotutil.Color(ci), plotutil.Color(ci)
			s.Shape = plotutil.Shape(ci)
			pl.Add(l, s)
			pl.Legend.Add(c+" (spectrum)", l, s)
		}
		// The axis spans the trained points and the base in colon; the
		// untuned base in the spectrum format (step 0) is often far above
		// (it has never seen the format) and is then cut off.
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, p := range points {
			if v, ok := p.values[metric]; ok && (p.config != "" || p.format == "colon") {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		for _, p := range points {
			v, ok := p.values[metric]
			if p.config != "" || !ok {
				continue
			}
			ref, err := plotter.NewLine(plotter.XYs{{X: 0, Y: v}, {X: math.Max(maxX, 1), Y: v}})
			if err != nil {
				return err
			}
			ref.Color = color.Gray{Y: 80}
			ref.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			if p.format != "colon" {
				ref.Color = color.Gray{Y: 150}
				ref.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
			}
			pl.Add(ref)
			pl.Legend.Add("base ("+p.format+")", ref)
		}
		if pad := (hi - lo) * 0.15; hi > lo { // after every Add, which widens the axes
			pl.Y.Min, pl.Y.Max = lo-pad, hi+pad
		}
		plots[i/cols][i%cols] = pl
	}
	w, h := 5*vg.Inch*vg.Length(cols), 3.6*vg.Inch*vg.Length(rows)
	var c vg.CanvasWriterTo = vgsvg.New(w, h)
	if strings.HasSuffix(svg, ".png") {
		c = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j, pl := range plots[i] {
			if pl != nil {
				pl.Draw(canvases[i][j])
			}
		}
	}
	tmp := svg + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, svg)
}

// readTokens returns the cumulative fed tokens after each step of a
// training log (index 0: none).
func readTokens(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cum := []float64{0}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r struct {
			Step   int      `json:"step"`
			Tokens *float64 `json:"tokens"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		if r.Tokens == nil || r.Step != len(cum) {
			continue // evaluation lines, or a step logged again after a resume
		}
		cum = append(cum, cum[len(cum)-1]+*r.Tokens)
	}
	return cum, sc.Err()
}
