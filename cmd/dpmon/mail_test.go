package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// feedbackReport is an ARF report of a complaint about a message of
// account, dated now.
func feedbackReport(account, recipient string, now time.Time) string {
	date := now.Format(time.RFC1123Z)
	return strings.ReplaceAll(fmt.Sprintf(`From: feedback@isp.example
To: fbl@acme.example
Subject: FW: newsletter
Date: %s
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b1"

--b1
Content-Type: text/plain

This is an email abuse report.

--b1
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: isp-fbl/1.0
Version: 1
Original-Rcpt-To: %s
Arrival-Date: %s

--b1
Content-Type: text/rfc822-headers

From: news@acme.example
To: %s
Message-ID: <n1@acme.example>
X-Dpmon-Account: %s

--b1--
`, date, recipient, date, recipient, account), "\n", "\r\n")
}

func TestLMTPThroughRun(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "lmtp.sock")
	// A socket left by a dpmon that was killed: nothing answers on it.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	// The report's header names the account: reports may create it here.
	cfg := writeFile(t, "mail:\n  create_accounts: true\n")
	srv := startRun(t, []string{"--config", cfg, "--listen", "127.0.0.1:0", "--lmtp-listen", "unix:" + sock, "--metrics-listen", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "data")}, func(string) string { return "" })
	if info, err := os.Stat(sock); err != nil || info.Mode().Perm() != 0o660 {
		t.Errorf("socket: %v, %v; want mode 0660", info, err)
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("fbl@dpmon.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(feedbackReport("acme", "jane@example.org", time.Now())))
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	acc, err := pb.NewAccountServiceClient(dial(t, srv.addr)).GetAccount(context.Background(), &pb.GetAccountRequest{AccountId: "acme"})
	if err != nil || acc.GetAccount().GetWindows()[0].GetComplaints() != 1 {
		t.Errorf("acme: got %v, %v; want one complaint", acc, err)
	}
	m := metricsAddrRE.FindStringSubmatch(srv.Log())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", srv.Log())
	}
	if got := scrape(t, m[1]); !strings.Contains(got, `dpmon_mail_events_total{result="accepted"} 1`+"\n") {
		t.Errorf("metrics: no accepted mail event")
	}
}

func TestLMTPRefusedBeyondLoopback(t *testing.T) {
	err := run(context.Background(), []string{"--lmtp-listen", "0.0.0.0:0", "--data-dir", t.TempDir()}, func(string) string { return "" }, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "LMTP has no authentication") {
		t.Errorf("got %v, want a refusal", err)
	}
}
