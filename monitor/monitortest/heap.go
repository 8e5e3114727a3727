package monitortest

import "runtime"

// HeapInUse returns the bytes allocated on the heap after two collections,
// for benchmarks that report memory per item: the difference of two calls
// is what was kept in between.
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
