package monitor

import (
	"testing"
	"unsafe"
)

// Every account in memory is an Account: past 768 bytes, Go's allocator
// puts it in the 896-byte size class, 128 bytes more per account.
func TestAccountFitsIts768ByteSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(Account{}); size > 768 {
		t.Errorf("an Account takes %d bytes, past the 768-byte size class", size)
	}
}
