package monitor

import (
	"bufio"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"testing"

	"github.com/dpmon/dpmon/monitor/monitortest"
)

// TestClassifyRealDSNs reads whole bounce messages as a platform receives
// them, takes each recipient's Status and Diagnostic-Code from the
// message/delivery-status part, and classifies them.
func TestClassifyRealDSNs(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []BounceClass // one per recipient, in order
	}{
		{"sisimai-lhost-postfix-13.eml", []BounceClass{BounceHard, BounceSoft}}, // user unknown, mailbox full
		{"sisimai-lhost-sendmail-05.eml", []BounceClass{BounceSoft}},            // message too large
		{"sisimai-rfc3464-07.eml", []BounceClass{BounceSoft}},                   // delayed, 4.4.0
		{"sisimai-rhost-google-04.eml", []BounceClass{BounceBlock}},             // Gmail: unauthenticated sender
		{"sisimai-rhost-microsoft-01.eml", []BounceClass{BounceBlock}},          // Outlook: banned sending IP
	} {
		t.Run(tc.file, func(t *testing.T) {
			bounces := readDSN(t, tc.file)
			if len(bounces) != len(tc.want) {
				t.Fatalf("got %d recipients, want %d", len(bounces), len(tc.want))
			}
			for i, b := range bounces {
				if got := Classify(b); got.Class != tc.want[i] {
					t.Errorf("recipient %d: got %s (%s), want %s for %+v", i, className(got.Class), got.Rule, className(tc.want[i]), b)
				}
			}
		})
	}
}

// readDSN returns the bounce of each recipient of a DSN message of the
// corpus's samples/dsn.
func readDSN(t *testing.T, name string) []Bounce {
	t.Helper()
	msg, err := mail.ReadMessage(monitortest.OpenCorpus(t, "samples", "dsn", name))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := parts.NextPart()
		if err != nil {
			t.Fatalf("no message/delivery-status part: %v", err)
		}
		if mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt == "message/delivery-status" {
			return recipientBounces(t, p)
		}
	}
}

// recipientBounces reads the per-message fields, then one block of
// per-recipient fields per recipient (RFC 3464 section 2.1).
func recipientBounces(t *testing.T, r io.Reader) []Bounce {
	t.Helper()
	tp := textproto.NewReader(bufio.NewReader(r))
	if _, err := tp.ReadMIMEHeader(); err != nil {
		t.Fatalf("per-message fields: %v", err)
	}
	var out []Bounce
	for {
		h, err := tp.ReadMIMEHeader()
		if len(h) > 0 && h.Get("Final-Recipient") != "" {
			out = append(out, dsnBounce(h))
		}
		if err != nil {
			return out
		}
	}
}

// dsnBounce builds a bounce from a recipient's Status ("5.2.2 (comment)")
// and Diagnostic-Code ("smtp; 550 5.2.2 ..."), whose reply code it takes
// from the text as a producer would.
func dsnBounce(h textproto.MIMEHeader) Bounce {
	status, _, _ := strings.Cut(strings.TrimSpace(h.Get("Status")), " ")
	_, diag, _ := strings.Cut(h.Get("Diagnostic-Code"), ";")
	diag = strings.Join(strings.Fields(diag), " ") // unfold
	code := 0
	if len(diag) >= 3 {
		code, _ = strconv.Atoi(diag[:3])
	}
	return Bounce{SMTPCode: code, EnhancedStatus: status, Diagnostic: diag}
}
