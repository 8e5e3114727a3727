package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/internal/testnet"
	"github.com/dpmon/dpmon/internal/testpki"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

func postJSON(t *testing.T, url string, body []byte, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

// mailgunPost signs a Mailgun post with key, as Mailgun does.
func mailgunPost(t *testing.T, body []byte, key string, now time.Time) []byte {
	t.Helper()
	var post map[string]json.RawMessage
	if err := json.Unmarshal(body, &post); err != nil {
		t.Fatal(err)
	}
	stamp, token := strconv.FormatInt(now.Unix(), 10), fmt.Sprint("token-", now.UnixNano())
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(stamp + token))
	post["signature"], _ = json.Marshal(map[string]string{"timestamp": stamp, "token": token, "signature": hex.EncodeToString(mac.Sum(nil))})
	out, err := json.Marshal(post)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHooksThroughRun configures the hooks from the environment, as an
// operator keeps secrets out of the file, and posts a corpus sample.
func TestHooksThroughRun(t *testing.T) {
	dir := t.TempDir()
	httpAddr := testnet.FreeAddr(t)
	const signingKey = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
	env := map[string]string{
		"DPMON_HOOKS_MAILGUN_SIGNING_KEY":     signingKey,
		"DPMON_HOOKS_MAILGUN_DEFAULT_ACCOUNT": "acme",
		"DPMON_HOOKS_POSTMARK_USERNAME":       "pm",
		"DPMON_HOOKS_POSTMARK_PASSWORD":       "pm-secret-password",
		"DPMON_HOOKS_POSTMARK_ACCOUNT_FROM":   "tag",
	}
	srv := startRun(t, []string{"--listen", "127.0.0.1:0", "--http-listen", httpAddr, "--metrics-listen", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "data")}, func(k string) string { return env[k] })
	base := "http://" + httpAddr + "/v1/hooks/"

	// Two levels below the repository's root, one more than CorpusDir
	// counts.
	sample, err := os.ReadFile(filepath.Join("..", monitortest.CorpusDir, "samples", "webhooks", "mailgun-webhook-complained.json"))
	if err != nil {
		t.Skipf("corpus sample: %v", err)
	}
	// The sample's event is of 2013: the server's clock is now, so the
	// event is dated now, as a fresh complaint.
	body := bytes.Replace(sample, []byte(`"timestamp": 1377214260.049634`), []byte(`"timestamp": `+strconv.FormatInt(time.Now().Unix(), 10)), 1)
	if code, reply := postJSON(t, base+"mailgun", mailgunPost(t, body, signingKey, time.Now()), nil); code != http.StatusOK || !strings.Contains(reply, `"accepted":1`) {
		t.Fatalf("signed mailgun post: got %d %s", code, reply)
	}
	if code, _ := postJSON(t, base+"mailgun", mailgunPost(t, body, "another key", time.Now()), nil); code != http.StatusUnauthorized {
		t.Errorf("mailgun post signed with another key: got %d, want 401", code)
	}
	// Postmark's events name their account by tag; one without is kept
	// as unmapped.
	auth := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("pm:pm-secret-password"))}}
	complaint := `{"RecordType":"SpamComplaint","ID":%d,"Tag":%q,"Email":"x@example.com","BouncedAt":%q}`
	at := time.Now().UTC().Format(time.RFC3339)
	if code, reply := postJSON(t, base+"postmark", []byte(fmt.Sprintf(complaint, 1, "", at)), auth); code != http.StatusOK || !strings.Contains(reply, `"unmapped":1`) {
		t.Errorf("untagged postmark post: got %d %s", code, reply)
	}
	if code, _ := postJSON(t, base+"sendgrid", []byte(`[]`), nil); code != http.StatusNotFound {
		t.Errorf("sendgrid, not configured: got %d, want 404", code)
	}

	conn := dial(t, srv.addr)
	acc, err := pb.NewAccountServiceClient(conn).GetAccount(context.Background(), &pb.GetAccountRequest{AccountId: "acme"})
	if err != nil || acc.GetAccount().GetWindows()[0].GetComplaints() != 1 {
		t.Errorf("acme: got %v, %v; want one complaint", acc, err)
	}
	unmapped, err := pb.NewEventServiceClient(conn).ListUnmappedEvents(context.Background(), &pb.ListUnmappedEventsRequest{})
	if err != nil || len(unmapped.GetEvents()) != 1 || unmapped.GetEvents()[0].GetEvent().GetEventId() != "postmark:1" {
		t.Errorf("unmapped: got %v, %v; want the untagged complaint", unmapped, err)
	}

	m := metricsAddrRE.FindStringSubmatch(srv.Log())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", srv.Log())
	}
	scraped := scrape(t, m[1])
	for _, want := range []string{
		`dpmon_hook_events_total{provider="mailgun",result="accepted"} 1`,
		`dpmon_hook_events_total{provider="mailgun",result="unauthorized"} 1`,
		`dpmon_hook_events_total{provider="postmark",result="unmapped"} 1`,
		`dpmon_hook_events_total{provider="postmark",result="duplicate"} 0`,
	} {
		if !strings.Contains(scraped, want+"\n") {
			t.Errorf("metrics: no %q", want)
		}
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{signingKey, "pm-secret-password"} {
		if strings.Contains(srv.Log(), secret) || strings.Contains(scraped, secret) {
			t.Errorf("a secret reached the log or the metrics")
		}
	}
}

func TestHooksConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown field", "hooks:\n  mailgun: {signing_key: k, account_from: campaign}\n", `hooks.mailgun.account_from "campaign"`},
		{"bad default account", "hooks:\n  mailgun: {signing_key: k, default_account: \"a b\\u0000\"}\n", "hooks.mailgun.default_account"},
		{"postmark without password", "hooks:\n  postmark: {username: u}\n", "needs both username and password"},
		{"sendgrid key not base64", "hooks:\n  sendgrid: {public_key: \"not a key\"}\n", "hooks.sendgrid.public_key"},
		{"bad pattern", "hooks:\n  ses: {topic_arns: [arn], cert_host_pattern: \"(\"}\n", "hooks.ses.cert_host_pattern"},
	} {
		cfg := writeFile(t, tc.yaml)
		err := run(context.Background(), []string{"--config", cfg, "--data-dir", t.TempDir()}, func(string) string { return "" }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}

// TestKillWhileAProviderPosts kills the server while SendGrid posts its
// batches, restarts it and posts every batch again: each batch answered
// 200 before the kill comes back all duplicates, and the account counts
// each distinct event exactly once.
func TestKillWhileAProviderPosts(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dataDir, httpAddr := t.TempDir(), testnet.FreeAddr(t)
	start := func() (string, *exec.Cmd) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", "DPMON_LISTEN=127.0.0.1:0", "DPMON_DATA_DIR="+dataDir,
			"DPMON_HTTP_LISTEN="+httpAddr, "DPMON_HOOKS_SENDGRID_PUBLIC_KEY="+base64.StdEncoding.EncodeToString(der),
			"DPMON_HOOKS_SENDGRID_DEFAULT_ACCOUNT=acme")
		return startProcess(t, cmd), cmd
	}
	_, proc := start()
	url := "http://" + httpAddr + "/v1/hooks/sendgrid"

	const perPost = 50
	now := time.Now()
	batch := func(b int) []byte {
		var events []string
		for i := range perPost {
			events = append(events, fmt.Sprintf(`{"event":"spamreport","sg_event_id":"b%d-e%d","email":"r%d-%d@example.com","timestamp":%d}`,
				b, i, b, i, now.Unix()))
		}
		return []byte("[" + strings.Join(events, ",") + "]")
	}
	sign := func(body []byte) http.Header {
		stamp := strconv.FormatInt(time.Now().Unix(), 10)
		sum := sha256.Sum256(append([]byte(stamp), body...))
		sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
		if err != nil {
			t.Error(err)
		}
		return http.Header{"X-Twilio-Email-Event-Webhook-Timestamp": {stamp}, "X-Twilio-Email-Event-Webhook-Signature": {base64.StdEncoding.EncodeToString(sig)}}
	}
	post := func(body []byte) (int, string, error) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header = sign(body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.String(), nil
	}

	var mu sync.Mutex
	answered, sent := map[int]bool{}, 0
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := w; ; b += 4 {
				mu.Lock()
				sent = max(sent, b+1)
				mu.Unlock()
				code, reply, err := post(batch(b))
				if err != nil {
					return // the server is gone
				}
				if code == http.StatusOK {
					if !strings.Contains(reply, fmt.Sprintf(`"accepted":%d`, perPost)) {
						t.Errorf("batch %d: %s", b, reply)
					}
					mu.Lock()
					answered[b] = true
					mu.Unlock()
				}
			}
		}()
	}
	for {
		mu.Lock()
		n := len(answered)
		mu.Unlock()
		if n >= 60 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	proc.Wait()
	t.Logf("killed after %d posts answered of %d sent", len(answered), sent)

	addr, _ := start()
	for b := range sent {
		code, reply, err := post(batch(b))
		if err != nil || code != http.StatusOK {
			t.Fatalf("batch %d again: %d %s %v", b, code, reply, err)
		}
		if answered[b] && !strings.Contains(reply, fmt.Sprintf(`"duplicates":%d`, perPost)) {
			t.Errorf("batch %d was answered 200 before the kill, and came back as %s", b, reply)
		}
	}
	acc, err := pb.NewAccountServiceClient(dial(t, addr)).GetAccount(context.Background(), &pb.GetAccountRequest{AccountId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := acc.GetAccount().GetWindows()[0].GetComplaints(), uint64(sent*perPost); got != want {
		t.Errorf("acme counts %d complaints, want each of the %d distinct events once", got, want)
	}
}

// TestHooksOverTLS serves the webhooks with the API's certificate: a
// provider posts over HTTPS, and plaintext gets nowhere.
func TestHooksOverTLS(t *testing.T) {
	p := testpki.New(t, "unused")
	dir, httpAddr := t.TempDir(), testnet.FreeAddr(t)
	env := map[string]string{"DPMON_HOOKS_POSTMARK_USERNAME": "pm", "DPMON_HOOKS_POSTMARK_PASSWORD": "pw", "DPMON_HOOKS_POSTMARK_DEFAULT_ACCOUNT": "acme"}
	startRun(t, []string{"--listen", "127.0.0.1:0", "--http-listen", httpAddr, "--tls-cert", p.CertFile, "--tls-key", p.KeyFile,
		"--data-dir", filepath.Join(dir, "data")}, func(k string) string { return env[k] })
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool}}}
	body := fmt.Sprintf(`{"RecordType":"SpamComplaint","ID":1,"Email":"x@example.com","BouncedAt":%q}`, time.Now().UTC().Format(time.RFC3339))
	req, _ := http.NewRequest(http.MethodPost, "https://"+httpAddr+"/v1/hooks/postmark", strings.NewReader(body))
	req.SetBasicAuth("pm", "pw")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HTTPS post: got %d, want 200", resp.StatusCode)
	}
	if resp, err := http.Post("http://"+httpAddr+"/v1/hooks/postmark", "application/json", strings.NewReader(body)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("a plaintext post was taken by the TLS listener")
		}
	}
}
