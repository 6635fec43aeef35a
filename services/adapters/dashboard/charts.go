package dashboard

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/projections/timeseries"
)

// The charts are inline SVG drawn on the server: the structs below hold
// computed coordinates, and templates/charts.html draws them. Every chart
// has a text alternative (a title, a description and a data table), and
// series differ in line pattern and label as well as colour.

// palette is the Okabe-Ito palette, distinguishable with common colour
// vision deficiencies.
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000", "#8F7500"}

// dashes are the line patterns, so that series differ without colour.
var dashes = []string{"", "8 4", "2 4", "10 4 2 4", "4 4", "1 3", "12 3 3 3 3 3", "6 2"}

// meter is a small horizontal bar for a fraction, 120 units wide.
type meter struct {
	Width float64
	Over  bool
}

func newMeter(frac float64) meter {
	if math.IsNaN(frac) || frac < 0 {
		frac = 0
	}
	return meter{Width: math.Round(math.Min(frac, 1)*1200) / 10, Over: frac > 1}
}

// tick is an axis label at a position.
type tick struct {
	At    float64
	Label string
}

// lineSeries is one line of a line chart.
type lineSeries struct {
	Name   string
	Colour string
	Dash   string
	Points string
	Now    int
	Peak   int
	LabelY float64
}

// namedSeries is a series of sizes to draw.
type namedSeries struct {
	Name   string
	Points []timeseries.Point
}

// lineChart is a chart of sizes over time.
type lineChart struct {
	ID, Title, Desc          string
	W, H                     float64
	Left, Right, Top, Bottom float64
	XTicks, YTicks           []tick
	Series                   []lineSeries
	Empty                    bool
	Table                    chartTable
}

// chartTable is a chart's data as a table.
type chartTable struct {
	Columns []string
	Rows    [][]string
}

// maxSeries bounds the lines of one chart: the largest queues now.
const maxSeries = 8

// niceCeil returns a round number at or above v (at least 4) and a step
// that divides it into four.
func niceCeil(v int) (top, step int) {
	for mag := 1; ; mag *= 10 {
		for _, m := range []int{1, 2, 5} {
			if step = m * mag; step*4 >= v {
				return step * 4, step
			}
		}
	}
}

func newLineChart(title string, all []namedSeries, from, to time.Time, loc *time.Location) lineChart {
	c := lineChart{ID: "waitchart", Title: title, W: 760, H: 280, Left: 48, Right: 630, Top: 16, Bottom: 240}
	if len(all) == 0 {
		c.Empty = true
		c.Desc = "No referral has been on a waitlist yet."
		return c
	}
	last := func(s namedSeries) int {
		if len(s.Points) == 0 {
			return 0
		}
		return s.Points[len(s.Points)-1].Size
	}
	slices.SortStableFunc(all, func(a, b namedSeries) int { return last(b) - last(a) })
	if len(all) > maxSeries {
		all = all[:maxSeries]
	}
	slices.SortStableFunc(all, func(a, b namedSeries) int { return strings.Compare(a.Name, b.Name) })
	peak := 0
	for _, s := range all {
		for _, p := range s.Points {
			peak = max(peak, p.Size)
		}
	}
	top, step := niceCeil(peak)
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 { return c.Left + (c.Right-c.Left)*t.Sub(from).Seconds()/span }
	y := func(v int) float64 { return c.Bottom - (c.Bottom-c.Top)*float64(v)/float64(top) }
	for v := 0; v <= top; v += step {
		c.YTicks = append(c.YTicks, tick{At: y(v), Label: fmt.Sprint(v)})
	}
	day := time.Date(from.In(loc).Year(), from.In(loc).Month(), from.In(loc).Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
	for i := 0; !day.After(to); day, i = day.AddDate(0, 0, 1), i+1 {
		if i%2 == 0 {
			c.XTicks = append(c.XTicks, tick{At: x(day), Label: day.Format("2 Jan")})
		}
	}
	var descs []string
	c.Table.Columns = []string{"Time"}
	for i, s := range all {
		var pts []string
		ls := lineSeries{Name: s.Name, Colour: palette[i%len(palette)], Dash: dashes[i%len(dashes)], Now: last(s)}
		for _, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.At), y(p.Size)))
			ls.Peak = max(ls.Peak, p.Size)
		}
		ls.Points = strings.Join(pts, " ")
		ls.LabelY = y(ls.Now) + 4
		c.Series = append(c.Series, ls)
		descs = append(descs, fmt.Sprintf("%s: %d now, at most %d", s.Name, ls.Now, ls.Peak))
		c.Table.Columns = append(c.Table.Columns, s.Name)
	}
	// End labels must not overlap: push them apart, top to bottom.
	order := make([]int, len(c.Series))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(c.Series[a].LabelY - c.Series[b].LabelY) })
	for k := 1; k < len(order); k++ {
		prev, cur := &c.Series[order[k-1]], &c.Series[order[k]]
		if cur.LabelY < prev.LabelY+15 {
			cur.LabelY = prev.LabelY + 15
		}
	}
	c.Desc = "Lines per queue. " + strings.Join(descs, "; ") + "."
	// The table: one row a day (the size at the day's last sample).
	for i := 0; i < len(all[0].Points); i += 4 {
		row := []string{all[0].Points[i].At.In(loc).Format("2 Jan 15:04")}
		for _, s := range all {
			row = append(row, fmt.Sprint(s.Points[i].Size))
		}
		c.Table.Rows = append(c.Table.Rows, row)
	}
	return c
}

// bar is one bar of a bar chart.
type bar struct {
	Label  string
	Value  string
	Y      float64
	Width  float64
	Colour string
}

// barChart is a horizontal bar chart.
type barChart struct {
	ID, Title, Desc string
	W, H            float64
	Left, Width     float64
	Bars            []bar
	Empty           bool
}

var sourceText = map[string]string{"gp_practice": "GP practice", "practice_staff": "Practice staff", "spoc": "Single point of contact",
	"self": "Self-referral", "hospital": "Hospital", "social_care": "Social care", "vcse": "VCSE", "other": "Other", "unspecified": "Not stated"}

// sourceChart draws referrals by source, most first.
func sourceChart(by map[string]int) barChart {
	c := barChart{ID: "sources", Title: "Referrals by source", W: 600, Left: 190, Width: 340}
	type kv struct {
		k string
		v int
	}
	var all []kv
	peak := 0
	for k, v := range by {
		all = append(all, kv{k, v})
		peak = max(peak, v)
	}
	slices.SortFunc(all, func(a, b kv) int {
		if a.v != b.v {
			return b.v - a.v
		}
		return strings.Compare(a.k, b.k)
	})
	if len(all) == 0 {
		c.Empty, c.Desc = true, "No referrals yet."
		return c
	}
	var descs []string
	for i, e := range all {
		label := sourceText[e.k]
		if label == "" {
			label = e.k
		}
		c.Bars = append(c.Bars, bar{Label: label, Value: fmt.Sprint(e.v), Y: float64(8 + 30*i), Width: c.Width * float64(e.v) / float64(peak), Colour: palette[0]})
		descs = append(descs, fmt.Sprintf("%s %d", label, e.v))
	}
	c.H = float64(16 + 30*len(all))
	c.Desc = strings.Join(descs, ", ") + "."
	return c
}

// outcomeGroup is one instrument's baseline and follow-up means.
type outcomeGroup struct {
	Name, Scale, Better string
	N                   int
	People              string
	Baseline, FollowUp  bar
	Change              string
	Improved            bool
	Y                   float64
}

func people(n int) string {
	if n == 1 {
		return "1 person"
	}
	return fmt.Sprintf("%d people", n)
}

// outcomeChart compares baseline and follow-up per instrument.
type outcomeChart struct {
	ID, Title, Desc string
	W, H            float64
	Left, Width     float64
	Groups          []outcomeGroup
	Empty           bool
}

// instruments names each instrument's headline score and its range.
var instruments = map[string]struct {
	name       string
	lo, hi     float64
	lowerIsBet bool
}{
	"ons4":    {"ONS4 life satisfaction", 0, 10, false},
	"swemwbs": {"SWEMWBS", 7, 35, false},
	"wemwbs":  {"WEMWBS", 14, 70, false},
	"mycaw":   {"MYCaW concern score", 0, 6, true},
}

func newOutcomeChart(outcomes map[string]funnel.Change) outcomeChart {
	c := outcomeChart{ID: "outcomes", Title: "Wellbeing change from baseline to follow-up", W: 640, Left: 100, Width: 300}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range outcomes {
			if !yield(k) {
				return
			}
		}
	})
	if len(names) == 0 {
		c.Empty, c.Desc = true, "No one has both a baseline and a follow-up measure yet."
		return c
	}
	var descs []string
	for i, k := range names {
		ch := outcomes[k]
		in, ok := instruments[k]
		if !ok {
			in.name, in.lo, in.hi = k, 0, math.Max(ch.MeanBaseline, ch.MeanFollowUp)
		}
		scale := func(v float64) float64 {
			if in.hi <= in.lo {
				return 0
			}
			return c.Width * math.Max(0, math.Min(1, (v-in.lo)/(in.hi-in.lo)))
		}
		y := float64(8 + 86*i)
		g := outcomeGroup{Name: in.name, Scale: fmt.Sprintf("scale %g to %g", in.lo, in.hi), N: ch.N, People: people(ch.N), Y: y,
			Baseline: bar{Label: "Baseline", Value: fmt.Sprintf("%.1f", ch.MeanBaseline), Y: y + 22, Width: scale(ch.MeanBaseline)},
			FollowUp: bar{Label: "Follow-up", Value: fmt.Sprintf("%.1f", ch.MeanFollowUp), Y: y + 48, Width: scale(ch.MeanFollowUp)},
			Change:   fmt.Sprintf("%+.1f", ch.MeanChange)}
		g.Improved = ch.MeanChange > 0 != in.lowerIsBet && ch.MeanChange != 0
		g.Better = "higher is better"
		if in.lowerIsBet {
			g.Better = "lower is better"
		}
		verdict := "no change"
		switch {
		case ch.MeanChange == 0:
		case g.Improved:
			verdict = "better"
		default:
			verdict = "worse"
		}
		g.Change += " (" + verdict + ")"
		c.Groups = append(c.Groups, g)
		descs = append(descs, fmt.Sprintf("%s: baseline %.1f, follow-up %.1f, change %s over %s", in.name, ch.MeanBaseline, ch.MeanFollowUp, g.Change, people(ch.N)))
	}
	c.H = float64(16 + 86*len(names))
	c.Desc = strings.Join(descs, "; ") + "."
	return c
}
