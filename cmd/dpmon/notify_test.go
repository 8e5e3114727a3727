package main

import (
	"strings"
	"testing"
)

// An unnamed receiver is named by a short hash of its URL: the name is a
// metrics label, in the log and shown to viewers, so it holds nothing of
// the URL; and it stays what it was, or the notifications queued for the
// receiver would no longer find it.
func TestAnUnnamedReceiverKeepsItsName(t *testing.T) {
	for _, tc := range []struct{ kind, url, want string }{
		{"slack", "https://hooks.slack.com/services/T000/B000/XXXXSECRET", "slack-509712b9"},
		{"webhook", "https://user:hunter2@hooks.example.com/dpmon?token=s3cret", "webhook-71766370"},
	} {
		if got := orName("", tc.kind, tc.url); got != tc.want {
			t.Errorf("orName(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
	if got := orName("ops", "webhook", "https://hooks.example.com/x"); got != "ops" {
		t.Errorf("a named receiver: got %q, want ops", got)
	}
}

// A URL the configuration refuses is not quoted back: it may be a secret
// mistyped, and the error goes to the log.
func TestARefusedURLIsNotQuoted(t *testing.T) {
	for _, raw := range []string{
		"hooks.slack.com/services/T000/B000/XXXXSECRET",
		"ftp://user:hunter2@hooks.example.com/dpmon?token=s3cret",
		"https://user:hunter2@hooks.example.com:port/dpmon?token=s3cret",
	} {
		err := checkURL("notify.slack[0]", raw)
		if err == nil || !strings.Contains(err.Error(), "notify.slack[0]") {
			t.Errorf("checkURL(%q) = %v, want an error naming notify.slack[0]", raw, err)
			continue
		}
		for _, secret := range []string{"hunter2", "XXXXSECRET", "s3cret"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("checkURL(%q) = %q: holds %q", raw, err, secret)
			}
		}
	}
}
