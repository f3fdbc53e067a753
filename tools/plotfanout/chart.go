package main

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"
)

// canvas is an RGBA image with the few drawing operations a line chart
// needs.
type canvas struct {
	img *image.RGBA
}

func newCanvas(w, h int) *canvas {
	c := &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h))}
	c.fill(c.img.Bounds(), white)
	return c
}

var (
	white     = color.RGBA{255, 255, 255, 255}
	black     = color.RGBA{0, 0, 0, 255}
	gridGray  = color.RGBA{225, 225, 225, 255}
	textGray  = color.RGBA{70, 70, 70, 255}
	seriesRGB = []color.RGBA{
		{214, 39, 40, 255},  // red
		{31, 119, 180, 255}, // blue
		{44, 160, 44, 255},  // green
		{255, 127, 14, 255}, // orange
		{148, 103, 189, 255},
		{140, 86, 75, 255},
		{23, 190, 207, 255},
		{127, 127, 127, 255},
	}
)

func (c *canvas) fill(r image.Rectangle, col color.RGBA) {
	r = r.Intersect(c.img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c.img.SetRGBA(x, y, col)
		}
	}
}

// dot paints a square of side w centred on (x, y).
func (c *canvas) dot(x, y, w int, col color.RGBA) {
	c.fill(image.Rect(x-w/2, y-w/2, x-w/2+w, y-w/2+w), col)
}

// line draws from (x0, y0) to (x1, y1), w pixels wide.
func (c *canvas) line(x0, y0, x1, y1, w int, col color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		c.dot(x0, y0, w, col)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

// rect outlines r.
func (c *canvas) rect(r image.Rectangle, col color.RGBA) {
	c.line(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y, 1, col)
	c.line(r.Min.X, r.Max.Y, r.Max.X, r.Max.Y, 1, col)
	c.line(r.Min.X, r.Min.Y, r.Min.X, r.Max.Y, 1, col)
	c.line(r.Max.X, r.Min.Y, r.Max.X, r.Max.Y, 1, col)
}

// text writes s with its top left corner at (x, y), each font pixel drawn
// as a scale×scale square.
func (c *canvas) text(x, y int, s string, scale int, col color.RGBA) {
	for _, r := range s {
		g := glyph(r)
		for row, bits := range g {
			for px := range glyphW {
				if bits&(1<<(glyphW-1-px)) != 0 {
					c.fill(image.Rect(x+px*scale, y+row*scale, x+(px+1)*scale, y+(row+1)*scale), col)
				}
			}
		}
		x += advance * scale
	}
}

func textWidth(s string, scale int) int {
	n := len([]rune(s))
	if n == 0 {
		return 0
	}
	return (n*advance - 1) * scale
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// axis maps values to pixels, on a linear or a logarithmic scale.
type axis struct {
	lo, hi float64
	step   float64 // between ticks, on a linear axis
	log    bool
}

// linearAxis runs from 0 (or the smallest value, if negative) to a round
// number above the largest value.
func linearAxis(values []float64) axis {
	lo, hi := 0.0, 0.0
	for _, v := range values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 5)
	return axis{lo: math.Floor(lo/step) * step, hi: math.Ceil(hi*1.05/step) * step, step: step}
}

// logAxis spans the decades around the values, all of which must be
// positive.
func logAxis(values []float64) axis {
	lo, hi := math.Inf(1), 0.0
	for _, v := range values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return axis{lo: math.Pow(10, math.Floor(math.Log10(lo))), hi: math.Pow(10, math.Ceil(math.Log10(hi*1.0001))), log: true}
}

// autoAxis is logarithmic when the positive values span more than wide
// times, linear otherwise.
func autoAxis(values []float64, wide float64) axis {
	lo, hi := math.Inf(1), 0.0
	for _, v := range values {
		if v <= 0 {
			return linearAxis(values)
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if len(values) > 0 && hi/lo > wide {
		return logAxis(values)
	}
	return linearAxis(values)
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// frac is where v falls between the ends of the axis, 0 to 1.
func (a axis) frac(v float64) float64 {
	if a.log {
		if v <= 0 {
			return 0
		}
		return (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// ticks are the values worth a grid line: 1, 2 and 5 in every decade of a
// log axis, round steps on a linear one.
func (a axis) ticks() []float64 {
	var out []float64
	if a.log {
		for d := a.lo; d <= a.hi*1.0001; d *= 10 {
			for _, m := range []float64{1, 2, 5} {
				if v := d * m; v <= a.hi*1.0001 {
					out = append(out, v)
				}
			}
		}
		return out
	}
	for i := 0; ; i++ {
		v := a.lo + float64(i)*a.step
		if v > a.hi+a.step/1000 {
			return out
		}
		out = append(out, v)
	}
}

// short prints v compactly: 1.5M, 250k, 12, 0.5.
func short(v float64) string {
	trim := func(s string) string {
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s
	}
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trim(strconv.FormatFloat(v/1e6, 'f', 2, 64)) + "M"
	case a >= 1e3:
		return trim(strconv.FormatFloat(v/1e3, 'f', 1, 64)) + "k"
	case a >= 10 || a == 0:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return trim(fmt.Sprintf("%.3g", v))
	}
}

// panel is one chart: a title, an x axis shared with the other panel, and
// one y value per point of each series.
type panel struct {
	title string
	x, y  axis
	value func(point) float64
}

const scale = 2 // font pixels are 2×2

// draw renders p into area, with a legend if legend is set.
func (p panel) draw(c *canvas, area image.Rectangle, series []series, legend bool) {
	lh := glyphH * scale // line height of the text
	plot := image.Rect(area.Min.X+100, area.Min.Y+lh+24, area.Max.X-30, area.Max.Y-lh*2-28)
	c.text(area.Min.X+10, area.Min.Y+8, p.title, scale, black)

	// Grid and tick labels.
	for _, t := range p.y.ticks() {
		y := plot.Max.Y - int(math.Round(p.y.frac(t)*float64(plot.Dy())))
		c.line(plot.Min.X, y, plot.Max.X, y, 1, gridGray)
		s := short(t)
		c.text(plot.Min.X-10-textWidth(s, scale), y-lh/2, s, scale, textGray)
	}
	for _, t := range p.x.ticks() {
		x := plot.Min.X + int(math.Round(p.x.frac(t)*float64(plot.Dx())))
		c.line(x, plot.Min.Y, x, plot.Max.Y, 1, gridGray)
		s := short(t)
		c.text(x-textWidth(s, scale)/2, plot.Max.Y+10, s, scale, textGray)
	}
	c.rect(plot, black)
	xl := "subscribers"
	c.text(plot.Min.X+(plot.Dx()-textWidth(xl, scale))/2, plot.Max.Y+lh+22, xl, scale, textGray)

	// Lines, then markers on top.
	at := func(pt point) (int, int) {
		return plot.Min.X + int(math.Round(p.x.frac(pt.x)*float64(plot.Dx()))),
			plot.Max.Y - int(math.Round(p.y.frac(p.value(pt))*float64(plot.Dy())))
	}
	for i, s := range series {
		col := seriesRGB[i%len(seriesRGB)]
		for k := 1; k < len(s.points); k++ {
			x0, y0 := at(s.points[k-1])
			x1, y1 := at(s.points[k])
			c.line(x0, y0, x1, y1, 3, col)
		}
		for _, pt := range s.points {
			x, y := at(pt)
			c.dot(x, y, 11, col)
			c.dot(x, y, 5, white)
		}
	}

	if !legend {
		return
	}
	w := 0
	for _, s := range series {
		w = max(w, textWidth(s.legend(), scale))
	}
	box := image.Rect(plot.Min.X+12, plot.Min.Y+12, plot.Min.X+12+w+56, plot.Min.Y+12+len(series)*(lh+12)+10)
	c.fill(box, white)
	c.rect(box, textGray)
	for i, s := range series {
		col := seriesRGB[i%len(seriesRGB)]
		y := box.Min.Y + 10 + i*(lh+12)
		c.line(box.Min.X+8, y+lh/2, box.Min.X+38, y+lh/2, 3, col)
		c.dot(box.Min.X+23, y+lh/2, 9, col)
		c.text(box.Min.X+46, y, s.legend(), scale, black)
	}
}
