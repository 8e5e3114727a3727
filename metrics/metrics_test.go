package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

type fixedPhases map[monitor.Phase]int

func (f fixedPhases) PhaseCounts() map[monitor.Phase]int { return f }

func TestExposition(t *testing.T) {
	m := New()
	m.CountPhases(fixedPhases{monitor.PhaseSuspended: 3})
	m.Events(monitor.EventBounce, "accepted", 7)
	m.Events(monitor.EventType(42), "rejected", 1) // a type the server could not read
	m.Committed(1000, 3*time.Millisecond, []monitor.Transition{{From: monitor.PhaseWarning, To: monitor.PhaseSuspended},
		{Sender: "news@shop.example", From: monitor.PhaseHealthy, To: monitor.PhaseSuspended}})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`dpmon_events_total{result="accepted",type="bounce"} 7`,
		`dpmon_events_total{result="rejected",type="unknown"} 1`,
		`dpmon_transitions_total{from="warning",to="suspended"} 1`,
		`dpmon_sender_blocks_total{action="blocked"} 1`,
		`dpmon_accounts{phase="suspended"} 3`,
		`dpmon_accounts{phase="healthy"} 0`,
		`dpmon_commit_duration_seconds_count 1`,
		`dpmon_process_cpu_seconds_total`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in the exposition", want)
		}
	}
}
