//go:build unix

package main

import (
	"os"
	"syscall"
)

// fileIdentity is the device and inode of the file info describes.
func fileIdentity(info os.FileInfo) fileID {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	// The conversions are for systems whose fields are narrower (Darwin's
	// Dev is an int32).
	return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
}
