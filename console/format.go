package console

import (
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dpmon/dpmon/monitor"
)

// funcs are the templates' formatting helpers. Times are written in UTC
// and turned into the viewer's zone by the page's script (the UTC stays
// in the title); numbers get thousands separators.
var funcs = template.FuncMap{
	"pct":   percent,
	"num":   number,
	"enum":  enumLabel,
	"iso":   func(ts *timestamppb.Timestamp) string { return ts.AsTime().UTC().Format(time.RFC3339) },
	"utc":   func(ts *timestamppb.Timestamp) string { return ts.AsTime().UTC().Format("2006-01-02 15:04 UTC") },
	"set":   func(ts *timestamppb.Timestamp) bool { return ts != nil && (ts.GetSeconds() != 0 || ts.GetNanos() != 0) },
	"dur":   func(d *durationpb.Duration) string { return monitor.DurationLabel(d.AsDuration()) },
	"add":   func(a, b int) int { return a + b },
	"path":  url.PathEscape,
	"maybe": orDash,
	"field": func(name, value, id, mode string) settingField { return settingField{name, value, id, mode} },
	"score": func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	// isRate tells the reputation's factors measured as a fraction from
	// those counted (hits, listings).
	"isRate": func(f protoreflect.Enum) bool { return strings.HasSuffix(enumLabel(f), " rate") },
}

// percent shows a fraction as a percentage with the precision small rates
// need: 0.001 is "0.10 %".
func percent(f float64) string {
	switch {
	case f == 0:
		return "0 %"
	case f < 0.0001:
		return strconv.FormatFloat(f*100, 'f', 3, 64) + " %"
	}
	return strconv.FormatFloat(f*100, 'f', 2, 64) + " %"
}

// number writes an integer with thousands separators.
func number(v any) string {
	var n int64
	switch x := v.(type) {
	case uint64:
		if x > 1<<62 {
			return strconv.FormatUint(x, 10)
		}
		n = int64(x)
	case uint32:
		n = int64(x)
	case int:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	default:
		return fmt.Sprint(v)
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// enumLabel names a proto enum value as people read it: "open" for
// TICKET_STATE_OPEN, "hard bounce" for SUPPRESSION_REASON_HARD_BOUNCE.
func enumLabel(e protoreflect.Enum) string {
	if e == nil {
		return ""
	}
	v := e.Descriptor().Values().ByNumber(e.Number())
	if v == nil {
		return strconv.Itoa(int(e.Number()))
	}
	name := strings.TrimPrefix(string(v.Name()), snakeUpper(string(e.Descriptor().Name()))+"_")
	if name == "UNSPECIFIED" {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(name, "_", " "))
}

// snakeUpper turns "TicketState" into "TICKET_STATE".
func snakeUpper(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// settingField is one input of the settings form, with the value it
// showed beside it (see updateSettings).
type settingField struct{ Name, Value, ID, Mode string }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
