package intake

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// KumoMTA log records of one message of the tenant acme's campaign
// spring, one per record type dpmon reads, as KumoMTA logs them.
const (
	kmDelivery = `{"type":"Delivery","id":"4f1c2e8a9b3d11f1a2b3c4d5e6f70819","sender":"news@acme.example","recipient":"jane@example.org","queue":"spring:acme@example.org","site":"acme->mx1.example.org","size":4182,"response":{"code":250,"enhanced_code":{"class":2,"subject":0,"detail":0},"content":"OK queued as 9C8B7A6D","command":"."},"peer_address":{"name":"mx1.example.org.","addr":"198.51.100.7"},"timestamp":1796292902,"created":1796292900,"num_attempts":0,"bounce_classification":"Uncategorized","egress_pool":"pool0","egress_source":"acme","feedback_report":null,"meta":{},"headers":{"Message-ID":"<20261203101500.7@acme.example>"},"delivery_protocol":"ESMTP","reception_protocol":"HTTP","nodeid":"8c1e0f2a-2c8c-11ee-976e-782d7e12e173"}`
	kmBounce   = `{"type":"Bounce","id":"4f1c2e8a9b3d11f1a2b3c4d5e6f70819","sender":"news@acme.example","recipient":"nobody@example.org","queue":"spring:acme@example.org","site":"acme->mx1.example.org","size":4182,"response":{"code":550,"enhanced_code":{"class":5,"subject":1,"detail":1},"content":"The email account that you tried to reach does not exist","command":"RCPT TO"},"timestamp":1796292902,"created":1796292900,"num_attempts":0,"bounce_classification":"InvalidRecipient","meta":{},"headers":{}}`
	kmRetry    = `{"type":"TransientFailure","id":"4f1c2e8a9b3d11f1a2b3c4d5e6f70819","sender":"news@acme.example","recipient":"bob@example.net","queue":"spring:acme@example.net","site":"","size":4182,"response":{"code":451,"enhanced_code":{"class":4,"subject":7,"detail":1},"content":"Greylisted, try again in 5 minutes","command":"RCPT TO"},"timestamp":1796292903,"created":1796292900,"num_attempts":1,"meta":{},"headers":{}}`
	kmOOB      = `{"type":"OOB","id":"77aa2e8a9b3d11f1a2b3c4d5e6f70819","sender":"news@acme.example","recipient":"gone@example.com","queue":"spring:acme@example.com","site":"","size":2210,"response":{"code":550,"enhanced_code":{"class":5,"subject":1,"detail":1},"content":"mailbox unavailable","command":null},"timestamp":1796292902,"created":1796292900,"num_attempts":0,"meta":{},"headers":{}}`
	kmAbuse    = `{"type":"Feedback","id":"91bb2e8a9b3d11f1a2b3c4d5e6f70819","sender":"fbl@isp.example","recipient":"fbl@acme.example","queue":"acme.example","site":"","size":3100,"response":{"code":250,"content":""},"timestamp":1796292902,"created":1796292902,"num_attempts":0,"feedback_report":{"feedback_type":"abuse","user_agent":"ISPFBL/2.1","version":"1","original_mail_from":"<news@acme.example>","original_rcpto_to":["<rcpt-from-report@example.org>"],"extensions":{},"supplemental_trace":{"recipient":"jane@example.org","tenant":"acme"}},"meta":{},"headers":{}}`
	kmOptOut   = `{"type":"Feedback","id":"92bb2e8a9b3d11f1a2b3c4d5e6f70819","sender":"fbl@isp.example","recipient":"fbl@acme.example","queue":"acme.example","timestamp":1796292902,"response":{"code":250,"content":""},"feedback_report":{"feedback_type":"opt-out","user_agent":"ISPFBL/2.1","version":"1","original_mail_from":"news@acme.example","original_rcpto_to":["ann@example.org"],"extensions":{}},"meta":{"tenant":"acme"},"headers":{}}`
	kmNotSpam  = `{"type":"Feedback","id":"93bb2e8a9b3d11f1a2b3c4d5e6f70819","sender":"fbl@isp.example","recipient":"fbl@acme.example","queue":"acme.example","timestamp":1796292902,"response":{"code":250,"content":""},"feedback_report":{"feedback_type":"not-spam","user_agent":"ISPFBL/2.1","version":"1","extensions":{"removal-recipient":["ann@example.org"]}},"meta":{},"headers":{}}`
	kmReceived = `{"type":"Reception","id":"4f1c2e8a9b3d11f1a2b3c4d5e6f70819","sender":"news@acme.example","recipient":"jane@example.org","queue":"spring:acme@example.org","site":"","size":4182,"response":{"code":250,"content":"OK"},"timestamp":1796292900,"meta":{},"headers":{}}`
)

func TestKumoMTARecords(t *testing.T) {
	at := time.Unix(1796292902, 0).UTC()
	byTenant := KumoMTAOptions{Mapping: Mapping{From: "tenant", Default: "fallback"}}
	for _, tc := range []struct {
		name      string
		line      string
		o         KumoMTAOptions
		typ       monitor.EventType
		recipient string
		verdict   monitor.BounceClass
		code      int
		status    string
		at        time.Time
	}{
		{"delivery", kmDelivery, byTenant, monitor.EventDelivery, "jane@example.org", 0, 0, "", at},
		{"bounce", kmBounce, byTenant, monitor.EventBounce, "nobody@example.org", monitor.BounceHard, 550, "5.1.1", at},
		{"out of band", kmOOB, byTenant, monitor.EventBounce, "gone@example.com", monitor.BounceHard, 550, "5.1.1", at},
		{"transient, asked", kmRetry, KumoMTAOptions{Mapping: byTenant.Mapping, Deferred: true}, monitor.EventBounce, "bob@example.net",
			monitor.BounceSoft, 451, "4.7.1", at.Add(time.Second)},
		{"complaint", kmAbuse, byTenant, monitor.EventComplaint, "jane@example.org", 0, 0, "", at},
		{"opt-out", kmOptOut, byTenant, monitor.EventUnsubscribe, "ann@example.org", 0, 0, "", at},
	} {
		e, ok, err := KumoMTALine(tc.line, tc.o, now)
		if err != nil || !ok {
			t.Fatalf("%s: got %v, %v; want an event", tc.name, ok, err)
		}
		if e.Type != tc.typ || e.Recipient != tc.recipient || !e.OccurredAt.Equal(tc.at) || e.Sender != "news@acme.example" ||
			e.AccountID != "acme" || monitor.CheckID(e.ID) != "" {
			t.Errorf("%s: got %+v", tc.name, e)
		}
		if err := e.Validate(e.OccurredAt, monitor.DefaultLimits()); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.typ == monitor.EventBounce {
			e.Decide()
			if b := e.Bounce; b.Verdict != tc.verdict || b.SMTPCode != tc.code || b.EnhancedStatus != tc.status {
				t.Errorf("%s: bounce %+v, want %v with %d %q", tc.name, *b, tc.verdict, tc.code, tc.status)
			}
		}
		if again, _, _ := KumoMTALine(tc.line, tc.o, now.Add(time.Hour)); again.ID != e.ID {
			t.Errorf("%s: read again, id %s, want %s", tc.name, again.ID, e.ID)
		}
	}
	if e, _, _ := KumoMTALine(kmDelivery, byTenant, now); e.MessageID != "<20261203101500.7@acme.example>" {
		t.Errorf("delivery: message id %q, want the logged header's", e.MessageID)
	}
	if e, _, _ := KumoMTALine(kmAbuse, byTenant, now); e.Complaint == nil || *e.Complaint != (monitor.Complaint{FeedbackType: "abuse", Source: "ISPFBL/2.1"}) {
		t.Errorf("complaint: got %+v", e.Complaint)
	}
}

func TestKumoMTASkipped(t *testing.T) {
	o := KumoMTAOptions{Mapping: Mapping{Default: "acme"}}
	for name, line := range map[string]string{
		"reception": kmReceived, "not spam": kmNotSpam, "transient": kmRetry,
		"expiration": strings.Replace(kmRetry, "TransientFailure", "Expiration", 1),
	} {
		if e, ok, err := KumoMTALine(line, o, now); ok || err != nil {
			t.Errorf("%s: got %+v, %v, %v; want nothing", name, e, ok, err)
		}
	}
	for name, line := range map[string]string{
		"not JSON": "Dec  3 10:15:02 kumod: started", "no type": `{"id":"x","recipient":"a@example.org"}`, "no id": `{"type":"Delivery"}`,
		"cut short": kmBounce[:200], "no report": `{"type":"Feedback","id":"x","recipient":"fbl@acme.example"}`,
		"no recipient": strings.Replace(kmDelivery, `"jane@example.org"`, `""`, 1),
		"anonymous":    `{"type":"Feedback","id":"x","recipient":"fbl@acme.example","feedback_report":{"feedback_type":"abuse","extensions":{}}}`,
	} {
		if e, ok, err := KumoMTALine(line, o, now); ok || !errors.Is(err, ErrPayload) {
			t.Errorf("%s: got %+v, %v, %v; want ErrPayload", name, e, ok, err)
		}
	}
}

func TestKumoMTAMapping(t *testing.T) {
	withMeta := strings.Replace(kmBounce, `"meta":{}`, `"meta":{"tenant":"beta","customer_id":1042}`, 1)
	for _, tc := range []struct {
		from, line, want string
	}{
		{"tenant", kmBounce, "acme"},
		{"campaign", kmBounce, "spring"},
		{"tenant", withMeta, "beta"},
		{"meta.customer_id", withMeta, "1042"},
		{"meta.customer_id", kmBounce, "fallback"},
		{"tenant", strings.Replace(kmBounce, "spring:acme@example.org", "example.org!relay.example", 1), "fallback"},
		{"tenant", strings.Replace(kmBounce, "spring:acme@example.org", "acme@example.org!relay.example", 1), "acme"},
		{"campaign", strings.Replace(kmBounce, "spring:acme@example.org", "spring:@example.org", 1), "spring"},
		{"tenant", kmAbuse, "acme"}, // from the reported message's trace
		{"tenant", kmOptOut, "acme"},
	} {
		e, ok, err := KumoMTALine(tc.line, KumoMTAOptions{Mapping: Mapping{From: tc.from, Default: "fallback"}}, now)
		if !ok || err != nil || e.AccountID != tc.want {
			t.Errorf("%s of %.60s: got %q, %v, %v; want %q", tc.from, tc.line, e.AccountID, ok, err, tc.want)
		}
	}
}

func TestKumoMTAIDs(t *testing.T) {
	o := KumoMTAOptions{Mapping: Mapping{Default: "acme"}, Deferred: true}
	ids := map[string]string{}
	for name, line := range map[string]string{
		"delivery": kmDelivery, "bounce": kmBounce, "retry": kmRetry, "oob": kmOOB,
		"retry later":        strings.Replace(kmRetry, "1796292903", "1796293203", 1),
		"bounce elsewhere":   strings.Replace(kmBounce, "nobody@", "other@", 1),
		"delivery to nobody": strings.Replace(kmDelivery, "jane@", "nobody@", 1),
	} {
		e, ok, err := KumoMTALine(line, o, now)
		if !ok || err != nil {
			t.Fatalf("%s: got %v, %v; want an event", name, ok, err)
		}
		if other, seen := ids[e.ID]; seen {
			t.Errorf("%s and %s: the same id %s", name, other, e.ID)
		}
		ids[e.ID] = name
	}
}

// FuzzKumoMTA: as FuzzPostfixLine.
func FuzzKumoMTA(f *testing.F) {
	for _, l := range []string{kmDelivery, kmBounce, kmRetry, kmOOB, kmAbuse, kmOptOut, kmNotSpam, kmReceived} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, ok, err := KumoMTALine(line, KumoMTAOptions{Mapping: Mapping{From: "tenant", Default: "acme"}, Deferred: true}, now)
		var res Result
		if ok {
			res.add(e, e.AccountID)
		}
		checkParsed(t, res, err)
		if ok && e.Validate(e.OccurredAt, monitor.DefaultLimits()) != nil {
			t.Fatalf("%+v: %v", e, e.Validate(e.OccurredAt, monitor.DefaultLimits()))
		}
	})
}
