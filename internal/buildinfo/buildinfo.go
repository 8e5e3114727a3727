// Package buildinfo says which build of dpmon is running, from what the
// Go toolchain records in the binary: the module's version, the commit it
// was built from, and the Go version.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// Info is what a binary knows of its build.
type Info struct {
	// Version is the module's version: a tag for a released build,
	// "(devel)" for one built from a checkout.
	Version string
	// Commit and Time are the commit's, when built inside its repository;
	// Modified is set when the work tree had changes.
	Commit   string
	Time     string
	Modified bool
	Go       string
}

// Read returns the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown", Go: "unknown"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version, Go: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the line "version" commands print, e.g.
// "v1.2.0 (commit 2224624ab3c1, 2026-12-03T18:11:00Z) go1.26.8".
func (i Info) String() string {
	s := i.Version
	if i.Commit != "" {
		commit := i.Commit
		if len(commit) > 12 {
			commit = commit[:12]
		}
		s += fmt.Sprintf(" (commit %s", commit)
		if i.Time != "" {
			s += ", " + i.Time
		}
		if i.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + i.Go
}
