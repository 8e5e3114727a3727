package main

import (
	"strings"
	"testing"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

func TestPrintAccount(t *testing.T) {
	var b strings.Builder
	if err := printAccount(&b, cannedAccount()); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "account_get.golden", b.String())
}

func TestPrintAccountBare(t *testing.T) {
	var b strings.Builder
	if err := printAccount(&b, &dpmonv1.Account{AccountId: "new"}); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "account_get_bare.golden", b.String())
}
