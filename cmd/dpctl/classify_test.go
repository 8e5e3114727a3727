package main

import "testing"

func TestRunClassify(t *testing.T) {
	d := startDpmon(t, t0)
	stdout, _, err := runDpctl(t, "--addr", d.addr, "classify", "--code", "550", "--status", "5.1.1",
		"550 5.7.1 Service unavailable; client host [192.0.2.1] blocked using zen.spamhaus.org")
	if err != nil {
		t.Fatal(err)
	}
	want := "class   block\nreason  blocklisted\nrule    text:blocklist \"blocked using\"\n"
	if stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", stdout, want)
	}
	if _, _, err := runDpctl(t, "--addr", d.addr, "classify"); err == nil {
		t.Errorf("classify with nothing to classify: got no error")
	}
}
