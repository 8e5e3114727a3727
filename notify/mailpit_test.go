package notify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dpmon/dpmon/internal/testnet"
)

// mailpitVersion is the Mailpit the email tests run: a real SMTP server
// (with STARTTLS and authentication) whose API reads back what it got.
const mailpitVersion = "v1.27.11"

var installMailpit sync.Once

// mailpitBinary returns Mailpit's binary: from PATH, else from the user's
// cache, where it is installed with go install when missing. It never
// skips: a machine without it installs it.
func mailpitBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "dpmon-test", "mailpit-"+mailpitVersion)
	bin := filepath.Join(dir, "mailpit")
	installMailpit.Do(func() {
		if _, err := os.Stat(bin); err == nil {
			return
		}
		t.Logf("installing Mailpit %s into %s", mailpitVersion, dir)
		cmd := exec.Command("go", "install", "github.com/axllent/mailpit@"+mailpitVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("installing Mailpit: %v\n%s", err, out)
		}
	})
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Mailpit is not at %s: %v", bin, err)
	}
	return bin
}

// mailpit is a running Mailpit.
type mailpit struct {
	smtp, api string
}

// startMailpit runs Mailpit on loopback with STARTTLS required (cert and
// key files) and the given "user:password" as its only account.
func startMailpit(t *testing.T, certFile, keyFile, account string) *mailpit {
	t.Helper()
	bin := mailpitBinary(t)
	dir := t.TempDir()
	auth := filepath.Join(dir, "smtp-auth")
	if err := os.WriteFile(auth, []byte(account+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &mailpit{smtp: testnet.FreeAddr(t), api: testnet.FreeAddr(t)}
	cmd := exec.Command(bin, "--smtp", m.smtp, "--listen", m.api, "--database", filepath.Join(dir, "mailpit.db"),
		"--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-starttls",
		"--smtp-auth-file", auth, "--smtp-disable-rdns", "--quiet")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + m.api + "/api/v1/messages")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Mailpit did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mailpitMessage is what the API says of one message.
type mailpitMessage struct {
	ID      string
	Subject string
	To      []struct{ Address string }
	Text    string
	HTML    string
}

// messages reads every message Mailpit got, with its bodies.
func (m *mailpit) messages(t *testing.T) []mailpitMessage {
	t.Helper()
	var list struct{ Messages []mailpitMessage }
	m.get(t, "/api/v1/messages", &list)
	for i := range list.Messages {
		m.get(t, "/api/v1/message/"+list.Messages[i].ID, &list.Messages[i])
	}
	return list.Messages
}

func (m *mailpit) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + m.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(fmt.Errorf("GET %s: %w", path, err))
	}
}
