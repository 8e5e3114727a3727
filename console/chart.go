package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// Charts are SVG drawn here from numbers only: no string from outside
// reaches them, so they go into the page as they are.

// metric picks one rate's numerator from a bucket, and its thresholds from
// a policy.
type metric struct {
	name      string
	count     func(*pb.Bucket) uint64
	threshold func(*pb.Policy) *pb.Thresholds
}

var (
	hardBounceMetric = metric{"Hard-bounce rate", (*pb.Bucket).GetHardBounces, (*pb.Policy).GetHardBounceRate}
	complaintMetric  = metric{"Complaint rate", (*pb.Bucket).GetComplaints, (*pb.Policy).GetComplaintRate}
)

// hourly are one rate per bucket over the longest window ending at now;
// a bucket without sends has no rate (ok false).
type hourly struct {
	from   time.Time
	bucket time.Duration
	rates  []float64
	ok     []bool
	// counts and sends per bucket, which the rolling rate adds up.
	counts, sends []uint64
}

// rolling returns the rate over the span buckets ending at each bucket:
// what the policy judges of the window that long.
func (h hourly) rolling(span int) hourly {
	r := hourly{from: h.from, bucket: h.bucket, rates: make([]float64, len(h.rates)), ok: make([]bool, len(h.rates))}
	var count, sends uint64
	for i := range h.rates {
		count, sends = count+h.counts[i], sends+h.sends[i]
		if i >= span {
			count, sends = count-h.counts[i-span], sends-h.sends[i-span]
		}
		if sends > 0 {
			r.rates[i], r.ok[i] = float64(count)/float64(sends), true
		}
	}
	return r
}

func hourlyRates(a *pb.Account, m metric, now time.Time) hourly {
	bucket := a.GetPolicy().GetBucket().AsDuration()
	windows := a.GetPolicy().GetWindows()
	if bucket <= 0 || len(windows) == 0 {
		return hourly{}
	}
	n := int(windows[len(windows)-1].GetLength().AsDuration() / bucket)
	// Buckets are counted from the Unix epoch, as the monitor counts them
	// (time.Truncate counts from year 1).
	last := time.Unix(0, now.UnixNano()/int64(bucket)*int64(bucket)).UTC()
	h := hourly{from: last.Add(-time.Duration(n-1) * bucket), bucket: bucket, rates: make([]float64, n), ok: make([]bool, n),
		counts: make([]uint64, n), sends: make([]uint64, n)}
	for _, b := range a.GetBuckets() {
		i := int(b.GetStart().AsTime().Sub(h.from) / bucket)
		if i < 0 || i >= n || b.GetSends() == 0 {
			continue
		}
		h.counts[i], h.sends[i] = m.count(b), b.GetSends()
		h.rates[i], h.ok[i] = float64(m.count(b))/float64(b.GetSends()), true
	}
	return h
}

// chart geometry: the plot area inside the view box.
const (
	chartW, chartH          = 720.0, 220.0
	plotL, plotR            = 52.0, 700.0
	plotT, plotB            = 14.0, 190.0
	sparkW, sparkH          = 120.0, 28.0
	scoreH, scoreT, scoreB  = 140.0, 10.0, 116.0
	warnColor, suspendColor = "#b7791f", "#c53030"
)

// rateChart draws one rate per hour over the longest window, the rate
// over the shortest window as it stood at each hour (what the policy
// judges), and the warn and suspend thresholds across both.
func rateChart(a *pb.Account, m metric, now time.Time) template.HTML {
	h := hourlyRates(a, m, now)
	var window hourly
	windowName := ""
	if ws := a.GetPolicy().GetWindows(); len(h.rates) > 0 && len(ws) > 1 {
		window = h.rolling(int(ws[0].GetLength().AsDuration() / h.bucket))
		windowName = template.HTMLEscapeString(ws[0].GetName())
	}
	th := m.threshold(a.GetPolicy())
	top, points := 0.0, 0
	for i, r := range h.rates {
		if h.ok[i] {
			top, points = max(top, r), points+1
		}
	}
	yMax := niceCeil(max(th.GetSuspend()*1.25, th.GetWarn()*1.5, top*1.05, 0.001))
	x := func(i int) float64 { return plotL + (plotR-plotL)*float64(i)/float64(max(1, len(h.rates)-1)) }
	y := func(r float64) float64 { return plotB - (plotB-plotT)*min(r, yMax)/yMax }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s per hour over the last %s: warn at %s, suspend at %s, highest %s" data-max-rate="%g" data-warn="%g" data-suspend="%g" data-points="%d">`,
		chartW, chartH, m.name, hoursLabel(len(h.rates), h.bucket), percent(th.GetWarn()), percent(th.GetSuspend()), percent(top), top, th.GetWarn(), th.GetSuspend(), points)
	fmt.Fprintf(&b, `<title>%s per hour</title>`, m.name)
	for _, f := range []float64{0, 0.5, 1} {
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`,
			plotL, plotR, y(yMax*f), y(yMax*f), plotL-6, y(yMax*f)+4, percent(yMax*f))
	}
	for i := range h.rates {
		if t := h.from.Add(time.Duration(i) * h.bucket).UTC(); t.Hour() == 0 && h.bucket <= time.Hour {
			fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><text class="axis" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`,
				x(i), x(i), plotT, plotB, x(i), plotB+16, t.Format("Mon 2"))
		}
	}
	for _, l := range []struct {
		v     float64
		name  string
		color string
	}{{th.GetWarn(), "warn", warnColor}, {th.GetSuspend(), "suspend", suspendColor}} {
		if l.v <= 0 {
			continue
		}
		// Labelled at the left, where a rising rate has not reached yet.
		fmt.Fprintf(&b, `<line class="threshold %s" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/><text class="threshold-label" x="%.1f" y="%.1f" fill="%s">%s %s</text>`,
			l.name, plotL, plotR, y(l.v), y(l.v), l.color, plotL+4, y(l.v)-4, l.color, l.name, percent(l.v))
	}
	if windowName != "" {
		fmt.Fprintf(&b, `<path class="window" d="%s"/>`, linePath(window, x, y))
		fmt.Fprintf(&b, `<text class="legend" x="%.1f" y="%.1f" text-anchor="end">— per hour</text><text class="legend window-legend" x="%.1f" y="%.1f" text-anchor="end">— over the last %s</text>`,
			plotR-130, plotT+10, plotR, plotT+10, windowName)
	}
	fmt.Fprintf(&b, `<path class="rate" d="%s"/>`, linePath(h, x, y))
	for i, r := range h.rates {
		if h.ok[i] {
			fmt.Fprintf(&b, `<circle class="point" cx="%.1f" cy="%.1f" r="2.5"><title>%s: %s</title></circle>`,
				x(i), y(r), h.from.Add(time.Duration(i)*h.bucket).UTC().Format("Mon 2 Jan 15:04 UTC"), percent(r))
		}
	}
	if points == 0 {
		fmt.Fprintf(&b, `<text class="empty" x="%.1f" y="%.1f" text-anchor="middle">No sends in this window yet.</text>`, (plotL+plotR)/2, (plotT+plotB)/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// linePath joins the rates of consecutive buckets; a bucket without sends
// breaks the line.
func linePath(h hourly, x func(int) float64, y func(float64) float64) string {
	var d strings.Builder
	prev := false
	for i, r := range h.rates {
		if !h.ok[i] {
			prev = false
			continue
		}
		cmd := "L"
		if !prev {
			cmd = "M"
		}
		fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(i), y(r))
		prev = true
	}
	return strings.TrimSpace(d.String())
}

// sparkline draws both rates of an account over the longest window, each
// as a share of its suspend threshold, with that threshold as a line.
func sparkline(a *pb.Account, now time.Time) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %.0f %.0f" role="img" aria-label="Hard-bounce and complaint rates per hour, against the suspend threshold">`, sparkW, sparkH)
	limit := 1.5
	y := func(r float64) float64 { return sparkH - 2 - (sparkH-4)*min(r, limit)/limit }
	fmt.Fprintf(&b, `<line class="threshold suspend" x1="0" x2="%.0f" y1="%.1f" y2="%.1f" stroke="%s"/>`, sparkW, y(1), y(1), suspendColor)
	for _, m := range []metric{hardBounceMetric, complaintMetric} {
		h := hourlyRates(a, m, now)
		suspend := m.threshold(a.GetPolicy()).GetSuspend()
		if suspend <= 0 || len(h.rates) == 0 {
			continue
		}
		x := func(i int) float64 { return sparkW * float64(i) / float64(max(1, len(h.rates)-1)) }
		fmt.Fprintf(&b, `<path class="spark-%s" d="%s"/>`, strings.Fields(strings.ToLower(m.name))[0], linePath(h, x, func(r float64) float64 { return y(r / suspend) }))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// scoreChart draws the daily reputation scores, with the alert level.
func scoreChart(days []*pb.DailyScore, alertBelow uint32) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="Reputation score per day, %d days" data-days="%d">`, chartW, scoreH, len(days), len(days))
	y := func(s float64) float64 { return scoreB - (scoreB-scoreT)*s/100 }
	for _, s := range []float64{0, 50, 100} {
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><text class="axis" x="%.1f" y="%.1f" text-anchor="end">%.0f</text>`,
			plotL, plotR, y(s), y(s), plotL-6, y(s)+4, s)
	}
	if alertBelow > 0 {
		fmt.Fprintf(&b, `<line class="threshold warn" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/><text class="threshold-label" x="%.1f" y="%.1f" text-anchor="end" fill="%s">alert below %d</text>`,
			plotL, plotR, y(float64(alertBelow)), y(float64(alertBelow)), warnColor, plotR, y(float64(alertBelow))-4, warnColor, alertBelow)
	}
	if len(days) == 0 {
		fmt.Fprintf(&b, `<text class="empty" x="%.1f" y="%.1f" text-anchor="middle">No daily score recorded yet: the first is taken at the daily run.</text>`, (plotL+plotR)/2, (scoreT+scoreB)/2)
	}
	var d strings.Builder
	for i, day := range days {
		x := plotL + (plotR-plotL)*float64(i)/float64(max(1, len(days)-1))
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x, y(float64(day.GetScore())))
		fmt.Fprintf(&b, `<circle class="point" cx="%.1f" cy="%.1f" r="2"><title>%s: %d</title></circle>`, x, y(float64(day.GetScore())), template.HTMLEscapeString(day.GetDate()), day.GetScore())
	}
	fmt.Fprintf(&b, `<path class="rate" d="%s"/></svg>`, strings.TrimSpace(d.String()))
	return template.HTML(b.String())
}

// niceCeil rounds v up to a round step times a power of ten, so that
// the axis reads 10 % rather than 9.87 %.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, f := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if f*p >= v*(1-1e-9) {
			return f * p
		}
	}
	return 10 * p
}

// hoursLabel names a span of n buckets, e.g. "7d".
func hoursLabel(n int, bucket time.Duration) string {
	d := time.Duration(n) * bucket
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
