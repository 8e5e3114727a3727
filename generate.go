// Package dpmon is the root of the dpmon module; see README.md.
//
// The go:generate line below regenerates api/ from proto/ with buf run
// through the Go module proxy, so no binary has to be installed.
package dpmon

//go:generate go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate
