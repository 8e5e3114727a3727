// Package monitor holds dpmon's domain: events and their validation, rolling
// windows of counts, the policy, the findings it produces and the phases an
// account moves through.
//
// It imports only the standard library and does no I/O: time is an argument
// and results are values, so every rule can be tested without a network or a
// disk.
package monitor
