package store

import (
	"strconv"

	"go.etcd.io/bbolt"
)

// newestFirst pages through a bucket keyed by sequence numbers, newest
// first, from below the page token on ("" starts at the newest). visit
// gets each record and says whether it was kept, or stop to end the scan;
// after limit kept records or maxScan read ones, newestFirst returns the
// token of the next page, "" when the bucket is exhausted.
func newestFirst(b *bbolt.Bucket, pageToken string, limit int, visit func(seq uint64, v []byte) (kept, stop bool, err error)) (string, error) {
	before := uint64(0)
	if pageToken != "" {
		n, err := strconv.ParseUint(pageToken, 10, 64)
		if err != nil || n == 0 {
			return "", errBadPageToken
		}
		before = n
	}
	c := b.Cursor()
	var k, v []byte
	if k, _ = c.Seek(seqKey(max(before, 1))); before == 0 || k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for kept, scanned := 0, 0; k != nil; k, v = c.Prev() {
		seq := decodeSeq(k)
		if kept == limit || scanned == maxScan {
			return strconv.FormatUint(seq+1, 10), nil
		}
		scanned++
		ok, stop, err := visit(seq, v)
		if err != nil || stop {
			return "", err
		}
		if ok {
			kept++
		}
	}
	return "", nil
}
