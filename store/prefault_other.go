//go:build !linux

package store

// prefault does nothing where there is no MADV_POPULATE_WRITE: the pages
// fault in as they are first written.
func prefault([]uint64) {}
