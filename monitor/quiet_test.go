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
	// young counts the skips while a window was below its minimum volume
	// with bounces or complaints: the sends could not change a thing
	// until they lifted it, and then only if those counts weighed enough.
	skipped, young, moved := 0, 0, 0
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		// Half the accounts stay below the long window's minimum for
		// most of their events, as young accounts do.
		p.Windows[1].MinSends = 80
		if seed%2 == 1 {
			p.Windows[1].MinSends = 2500
		}
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
					var stats [MaxWindows]WindowStats
					for _, w := range measureInto(stats[:], &full.ring, at, &p) {
						if w.BelowMinVolume && w.HardBounces|w.Complaints|w.Blocks != 0 {
							young++
							break
						}
					}
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
	if skipped < 1000 || young < 100 || moved < 20 {
		t.Errorf("%d judgements skipped (%d below a minimum volume) and %d moves: the events do not exercise the quiet account", skipped, young, moved)
	}
	t.Logf("%d judgements skipped (%d below a minimum volume), %d moves", skipped, young, moved)
}

// A young account, below its windows' minimum volume with a complaint, is
// quiet only if that complaint cannot raise a finding once sends lift the
// windows to their minimum: at 1,000 sends one complaint is the warning
// threshold (0.1 %), at 1,001 it is below it.
func TestAYoungAccountIsQuietOnlyIfItsCountsCannotWarn(t *testing.T) {
	for _, tc := range []struct {
		minSends uint64
		quiet    bool
		phase    Phase
	}{
		{minSends: 1000, quiet: false, phase: PhaseWarning},
		{minSends: 1001, quiet: true, phase: PhaseHealthy},
	} {
		p := DefaultPolicy()
		p.Windows[0].MinSends, p.Windows[1].MinSends = tc.minSends, tc.minSends
		quiet, full := NewAccount("acme", now, p), NewAccount("acme", now, p)
		complaint := Event{Type: EventComplaint, OccurredAt: now, Recipient: "r@example.com", Complaint: &Complaint{FeedbackType: "abuse"}}
		send := Event{Type: EventSend, OccurredAt: now, Recipient: "r@example.com"}
		quiet.Observe(&complaint, now, &p)
		full.Observe(&complaint, now, &p)
		for sends := uint64(1); sends <= tc.minSends; sends++ {
			quiet.Observe(&send, now, &p)
			full.Observe(&send, now, &p)
			full.quiet = 0
			tq, okq := quiet.Step(now, &p)
			tf, okf := full.Step(now, &p)
			if okq != okf || !reflect.DeepEqual(tq, tf) || !reflect.DeepEqual(quiet.State, full.State) {
				t.Fatalf("min %d, %d sends: quiet account moved %v %+v, the measured one %v %+v", tc.minSends, sends, okq, tq, okf, tf)
			}
			if sends == 1 && (quiet.quiet != 0) != tc.quiet {
				t.Errorf("min %d: quiet after the first send is %v, want %v", tc.minSends, quiet.quiet != 0, tc.quiet)
			}
		}
		if full.State.Phase != tc.phase {
			t.Errorf("min %d: the account ends %v, want %v", tc.minSends, full.State.Phase, tc.phase)
		}
	}
}
