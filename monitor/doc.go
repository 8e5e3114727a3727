// Package monitor holds dpmon's domain: events and their validation, rolling
// windows of counts, the policy, the findings it produces and the phases an
// account moves through.
//
// Decider (decide.go) is where every write is decided: it counts a commit
// group's events, carries out its calls and judges the accounts they
// touched, and its Outcome lists the transitions, the notifications and
// the audit entries that follow. Account.Verdict (verdict.go) answers
// whether an account may send now.
//
// It imports only the standard library and does no I/O: time is an argument
// and results are values, so every rule can be tested without a network or a
// disk.
package monitor
