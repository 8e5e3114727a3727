package web

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/server"
)

const testTopic = "arn:aws:sns:us-east-1:123456789012:ses-events"

// snsWorld is SNS as dpmon meets it, on loopback: a CA whose intermediate
// issued the signing certificate, the certificate served over HTTPS at
// sns.example.com without its issuer, the issuer served over
// HTTP at crt.example.com, and the subscription confirmation endpoint.
type snsWorld struct {
	key        *rsa.PrivateKey
	roots      *x509.CertPool
	client     *http.Client
	certURL    string
	certFetch  atomic.Int32
	issuerHits atomic.Int32
	confirmed  atomic.Int32
}

func newSNSWorld(t testing.TB, now time.Time) *snsWorld {
	t.Helper()
	w := &snsWorld{certURL: "https://sns.example.com/SimpleNotificationService-test.pem"}
	rootKey, root := newCA(t, "Test Root", nil, nil, now)
	intKey, intermediate := newCA(t, "Test Intermediate", root, rootKey, now)
	w.roots = x509.NewCertPool()
	w.roots.AddCert(root)
	var err error
	if w.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: intake.SNSCertificateName}, DNSNames: []string{intake.SNSCertificateName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IssuingCertificateURL: []string{"http://crt.example.com/intermediate.cer"},
	}, intermediate, &w.key.PublicKey, intKey)
	if err != nil {
		t.Fatal(err)
	}
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})

	secure := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/SimpleNotificationService-test.pem":
			w.certFetch.Add(1)
			rw.Write(leafPEM)
		case r.URL.Path == "/redirect.pem":
			http.Redirect(rw, r, "https://sns.example.com/SimpleNotificationService-test.pem", http.StatusFound)
		case r.URL.Query().Get("Action") == "ConfirmSubscription" && r.URL.Query().Get("Token") == "tok":
			w.confirmed.Add(1)
		default:
			http.NotFound(rw, r)
		}
	}))
	t.Cleanup(secure.Close)
	plain := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/intermediate.cer" {
			http.NotFound(rw, r)
			return
		}
		w.issuerHits.Add(1)
		rw.Write(intermediate.Raw)
	}))
	t.Cleanup(plain.Close)
	// Every *.example.com name leads to one of the two servers.
	tr := secure.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, _ := net.SplitHostPort(addr); strings.HasSuffix(host, ".example.com") {
			addr = plain.Listener.Addr().String()
			if port == "443" {
				addr = secure.Listener.Addr().String()
			}
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	w.client = &http.Client{Transport: tr, Timeout: 5 * time.Second}
	return w
}

func newCA(t testing.TB, name string, parent *x509.Certificate, parentKey *rsa.PrivateKey, now time.Time) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func (w *snsWorld) hooks(o *Options) {
	o.SES = &SES{
		Topics:     []string{testTopic},
		CertHost:   regexp.MustCompile(`^(?:sns\.example\.com)$`),
		IssuerHost: regexp.MustCompile(`^(?:crt\.example\.com)$`),
		Roots:      w.roots, Client: w.client, Mapping: intake.Mapping{Default: "acme"},
	}
	o.SES.Log = o.Log
}

// sign makes an SNS delivery of msg, signed as SNS signs (version 1 or 2).
func (w *snsWorld) sign(t testing.TB, msg intake.SNSMessage) []byte {
	t.Helper()
	if msg.SigningCertURL == "" {
		msg.SigningCertURL = w.certURL
	}
	var b strings.Builder
	add := func(name, value string) { b.WriteString(name + "\n" + value + "\n") }
	add("Message", msg.Message)
	add("MessageId", msg.MessageID)
	if msg.Type == "Notification" {
		if msg.Subject != "" {
			add("Subject", msg.Subject)
		}
	} else {
		add("SubscribeURL", msg.SubscribeURL)
	}
	add("Timestamp", msg.Timestamp)
	if msg.Type != "Notification" {
		add("Token", msg.Token)
	}
	add("TopicArn", msg.TopicArn)
	add("Type", msg.Type)
	hash, digest := crypto.SHA256, sha256.Sum256([]byte(b.String()))
	sum := digest[:]
	if msg.SignatureVersion == "1" {
		s1 := sha1.Sum([]byte(b.String()))
		hash, sum = crypto.SHA1, s1[:]
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, w.key, hash, sum)
	if err != nil {
		t.Fatal(err)
	}
	msg.Signature = base64.StdEncoding.EncodeToString(sig)
	out, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// notification wraps an SES notification in an SNS delivery.
func notification(notice []byte, version string) intake.SNSMessage {
	return intake.SNSMessage{Type: "Notification", MessageID: "m-" + base64.RawURLEncoding.EncodeToString(notice[:min(12, len(notice))]),
		TopicArn: testTopic, Message: string(notice), Timestamp: "2026-12-03T11:59:00.000Z", SignatureVersion: version}
}

// sesNotice is a corpus sample as SES writes it, out of its SNS delivery
// when the sample is one.
func sesNotice(t testing.TB, name string) []byte {
	t.Helper()
	body := webhookSample(t, name)
	if msg, err := intake.ReadSNS(body); err == nil {
		return []byte(msg.Message)
	}
	return body
}

func TestSESSamples(t *testing.T) {
	want := map[string]string{
		"amazon-ses-webhook-bounce.json":          "accepted 1 ignored 0, sends 0 hard 1 complaints 0 blocks 0, jane@example.com=active",
		"amazon-ses-webhook-complaint.json":       "accepted 1 ignored 0, sends 0 hard 0 complaints 1 blocks 0, richard@example.com=suppressed",
		"amazon-ses-webhook-delivery.json":        "accepted 1 ignored 0, sends 0 hard 0 complaints 0 blocks 0, jane@example.com=active",
		"amazon-ses-webhook-multiple-bounce.json": "accepted 2 ignored 0, sends 0 hard 2 complaints 0 blocks 0, jane@example.com=active richard@example.com=active",
		// SES refused to send (a virus): no recipient was mailed.
		"amazon-ses-webhook-reject.json":                 "accepted 0 ignored 1, sends 0 hard 0 complaints 0 blocks 0, ",
		"sisimai-amazon-ses-notification-bounce.json":    "accepted 1 ignored 0, sends 0 hard 1 complaints 0 blocks 0, bounce@simulator.amazonses.com=active",
		"sisimai-amazon-ses-notification-complaint.json": "accepted 1 ignored 0, sends 0 hard 0 complaints 1 blocks 0, complaint@simulator.amazonses.com=suppressed",
		"sisimai-amazon-ses-notification-delivery.json":  "accepted 1 ignored 0, sends 0 hard 0 complaints 0 blocks 0, success@simulator.amazonses.com=active",
		"sisimai-amazon-ses-sns-envelope-bounce.json":    "accepted 1 ignored 0, sends 0 hard 1 complaints 0 blocks 0, bounce@simulator.amazonses.com=active",
	}
	for i, name := range webhookSamples(t, "amazon-ses-", "sisimai-amazon-ses-") {
		notice := sesNotice(t, name)
		res, err := intake.SES(notice, intake.Mapping{Default: "acme"}, t0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w := newSNSWorld(t, eventsTime(res))
		version := []string{"1", "2"}[i%2]
		o := postSample(t, "ses", name, func(body []byte, m intake.Mapping, now time.Time) (intake.Result, error) {
			return intake.SES(sesNotice(t, name), m, now)
		}, w.hooks, func(_ []byte, _ time.Time) ([]byte, http.Header) {
			return w.sign(t, notification(notice, version)), nil
		})
		if w, ok := want[name]; !ok || o.String() != w {
			t.Errorf("%s:\n got %v\nwant %s", name, o, w)
		}
		// The certificate was fetched once for both posts, and its issuer
		// from where the certificate says.
		if n, m := w.certFetch.Load(), w.issuerHits.Load(); n != 1 || m != 1 {
			t.Errorf("%s: certificate fetched %d times, issuer %d; want once each", name, n, m)
		}
	}
}

func TestSNSSignatures(t *testing.T) {
	w := newSNSWorld(t, t0)
	e := newEnv(t, t0, w.hooks)
	notice := []byte(`{"notificationType":"Complaint","mail":{"messageId":"m1","timestamp":"2026-12-03T11:58:00.000Z"},` +
		`"complaint":{"feedbackId":"f1","timestamp":"2026-12-03T11:59:00.000Z","complainedRecipients":[{"emailAddress":"a@example.com"}]}}`)
	good := notification(notice, "2")
	tampered := w.sign(t, good)
	tampered = []byte(strings.Replace(string(tampered), "a@example.com", "b@example.com", 1))
	otherTopic := good
	otherTopic.TopicArn = "arn:aws:sns:us-east-1:999999999999:someone-else"
	badVersion := good
	badVersion.SignatureVersion = "3"
	elsewhere := good
	elsewhere.SigningCertURL = "https://attacker.example.net/SimpleNotificationService-test.pem"
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"tampered", tampered},
		{"another topic", w.sign(t, otherTopic)},
		{"signature version 3", w.sign(t, badVersion)},
		{"certificate elsewhere", w.sign(t, elsewhere)},
	} {
		if code, _ := e.post(t, "ses", tc.body, nil); code != http.StatusUnauthorized {
			t.Errorf("%s: got %d, want 401", tc.name, code)
		}
	}
	if code, _ := e.post(t, "ses", []byte(`{"Type":`), nil); code != http.StatusBadRequest {
		t.Errorf("cut off: got %d, want 400", code)
	}
	for _, version := range []string{"1", "2"} {
		msg := good
		msg.SignatureVersion, msg.MessageID = version, "m"+version
		if code, r := e.post(t, "ses", w.sign(t, msg), nil); code != http.StatusOK || r.Accepted+r.Duplicates != 1 {
			t.Errorf("signature version %s: got %d %+v, want the complaint taken", version, code, r)
		}
	}
	if got := [2]int{e.counted("ses", ResultUnauthorized), e.counted("ses", server.ResultAccepted)}; got != [2]int{4, 1} {
		t.Errorf("counted %d unauthorized and %d accepted, want 4 and 1", got[0], got[1])
	}
}

func TestSNSSubscription(t *testing.T) {
	w := newSNSWorld(t, t0)
	e := newEnv(t, t0, w.hooks)
	confirm := intake.SNSMessage{Type: "SubscriptionConfirmation", MessageID: "s1", TopicArn: testTopic, Token: "tok",
		Message: "You have chosen to subscribe", Timestamp: "2026-12-03T11:59:00.000Z", SignatureVersion: "1",
		SubscribeURL: "https://sns.example.com/?Action=ConfirmSubscription&TopicArn=" + testTopic + "&Token=tok"}
	other := confirm
	other.TopicArn = "arn:aws:sns:us-east-1:999999999999:someone-else"
	if code, _ := e.post(t, "ses", w.sign(t, other), nil); code != http.StatusUnauthorized || w.confirmed.Load() != 0 {
		t.Errorf("another topic: got %d, %d confirmations; want 401 and none", code, w.confirmed.Load())
	}
	offsite := confirm
	offsite.SubscribeURL = "https://internal.example.net/?Action=ConfirmSubscription&Token=tok"
	if code, _ := e.post(t, "ses", w.sign(t, offsite), nil); code != http.StatusBadRequest || w.confirmed.Load() != 0 {
		t.Errorf("SubscribeURL elsewhere: got %d, %d confirmations; want 400 and none", code, w.confirmed.Load())
	}
	if code, _ := e.post(t, "ses", w.sign(t, confirm), nil); code != http.StatusOK || w.confirmed.Load() != 1 {
		t.Errorf("configured topic: got %d, %d confirmations; want 200 and one", code, w.confirmed.Load())
	}
}

func TestSNSCertificateTrouble(t *testing.T) {
	w := newSNSWorld(t, t0)
	notice := []byte(`{"notificationType":"Delivery","mail":{"messageId":"m1","timestamp":"2026-12-03T11:58:00.000Z"},` +
		`"delivery":{"timestamp":"2026-12-03T11:59:00.000Z","recipients":["a@example.com"]}}`)
	msg := notification(notice, "2")

	// A certificate that cannot be fetched is dpmon's trouble, not the
	// sender's: 503, and SNS retries.
	missing := msg
	missing.SigningCertURL = "https://sns.example.com/missing.pem"
	e := newEnv(t, t0, w.hooks)
	if code, _ := e.post(t, "ses", w.sign(t, missing), nil); code != http.StatusServiceUnavailable {
		t.Errorf("certificate not found: got %d, want 503", code)
	}

	// A redirect is not followed, even to an allowed host.
	redirected := msg
	redirected.SigningCertURL = "https://sns.example.com/redirect.pem"
	if code, _ := e.post(t, "ses", w.sign(t, redirected), nil); code != http.StatusServiceUnavailable {
		t.Errorf("redirected certificate: got %d, want 503", code)
	}

	// Without its issuer from an allowed host, the certificate chains to
	// no root: refused.
	noIssuer := newEnv(t, t0, func(o *Options) {
		w.hooks(o)
		o.SES.IssuerHost = regexp.MustCompile(`^(?:crt\.example\.org)$`)
	})
	if code, _ := noIssuer.post(t, "ses", w.sign(t, msg), nil); code != http.StatusUnauthorized {
		t.Errorf("issuer not fetched: got %d, want 401", code)
	}

	// Another root: the same certificate is not trusted.
	otherRoots := newEnv(t, t0, func(o *Options) {
		w.hooks(o)
		_, root := newCA(t, "Other Root", nil, nil, t0)
		o.SES.Roots = x509.NewCertPool()
		o.SES.Roots.AddCert(root)
	})
	if code, _ := otherRoots.post(t, "ses", w.sign(t, msg), nil); code != http.StatusUnauthorized {
		t.Errorf("other roots: got %d, want 401", code)
	}

	// Once expired, the cached certificate is fetched again, and refused.
	fetched := w.certFetch.Load()
	if code, _ := e.post(t, "ses", w.sign(t, msg), nil); code != http.StatusOK {
		t.Fatalf("good: got %d, want 200", code)
	}
	e.clock.Set(t0.Add(25 * time.Hour))
	if code, _ := e.post(t, "ses", w.sign(t, msg), nil); code != http.StatusUnauthorized || w.certFetch.Load() != fetched+2 {
		t.Errorf("expired: got %d after %d fetches, want 401 after %d", code, w.certFetch.Load()-fetched, 2)
	}
}
