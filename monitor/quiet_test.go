package monitor

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// Step skips the measure of a quiet account (see Account.quiet); it must
// decide exactly what a full measure decides. Two accounts get the same
// events and judgements, one measured in full every time.
func TestAQuietAccountIsJudgedAsAMeasuredOne(t *testing.T) {
	p := DefaultPolicy()
	p.Windows[0].MinSends, p.Windows[1].MinSends = 40, 80
	p.CoolDown, p.ProbationPeriod = 3*time.Hour, 6*time.Hour
	skipped, moved := 0, 0
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		at := now
		quiet, full := NewAccount("acme", at, p), NewAccount("acme", at, p)
		for i := range 3000 {
			at = at.Add(time.Duration(rng.IntN(300)) * time.Second)
			e := Event{ID: fmt.Sprint(i), AccountID: "acme", Type: EventSend, OccurredAt: at.Add(-time.Duration(rng.IntN(7200)) * time.Second),
				Recipient: "r@example.com"}
			// Bad stretches push the account into a warning or a
			// suspension; the rest lets it recover.
			bad := 0.002
			if (i/500)%3 == 1 {
				bad = 0.06
			}
			switch x := rng.Float64(); {
			case x < bad:
				e.Type, e.Bounce = EventBounce, &Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Verdict: BounceHard}
			case x < 2*bad:
				e.Type, e.Complaint = EventComplaint, &Complaint{FeedbackType: "abuse"}
			}
			quiet.Observe(&e, at, &p)
			full.Observe(&e, at, &p)
			if rng.IntN(4) == 0 {
				full.quiet = 0
				if quiet.quiet == quietMark(bucketOf(at, p.Bucket)) && quiet.stillQuiet(&p) {
					skipped++
				}
				tq, okq := quiet.Step(at, &p)
				if okq {
					moved++
				}
				tf, okf := full.Step(at, &p)
				if okq != okf || !reflect.DeepEqual(tq, tf) || !reflect.DeepEqual(quiet.State, full.State) {
					t.Fatalf("seed %d, event %d at %v: quiet account moved %v %+v, the measured one %v %+v", seed, i, at, okq, tq, okf, tf)
				}
			}
			if quiet.State.Phase == PhaseSuspended {
				moved++
				for _, a := range []*Account{quiet, full} {
					if _, err := a.Reinstate(at, "", "ops", p); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	// The test means something only if judgements were skipped and
	// accounts moved.
	if skipped < 1000 || moved < 20 {
		t.Errorf("%d judgements skipped and %d moves: the events do not exercise the quiet account", skipped, moved)
	}
	t.Logf("%d judgements skipped, %d moves", skipped, moved)
}
