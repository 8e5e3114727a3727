package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestString(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "2224624ab3c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5"}, {Key: "vcs.time", Value: "2026-12-03T18:11:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := fromBuildInfo(bi).String(), "v1.2.0 (commit 2224624ab3c1, 2026-12-03T18:11:00Z, modified) go1.26.8"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := fromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}).String(), "(devel) go1.26.8"; got != want {
		t.Errorf("String() without vcs = %q, want %q", got, want)
	}
	if got := Read(); got.Go == "" {
		t.Errorf("Read() = %+v, want at least the Go version", got)
	}
}
