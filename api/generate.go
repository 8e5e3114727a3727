// Package api holds the Go code generated from the protos in proto/; its
// subpackages are generated, committed and never edited by hand.
//
// The go:generate line regenerates them with buf run through the Go module
// proxy, so nothing has to be installed.
package api

//go:generate go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate .. --template ../buf.gen.yaml --output ..
