package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"
)

// Sequence numbers count what the whole platform does: transitions,
// notifications. A sender sees some of them, as watch cursors, page tokens
// and notification ids, and must not learn from them how much the other
// accounts do. So they leave the store sealed: one AES block holding the
// number and a tag naming its kind, under a key made at the first start and
// kept in the file (a restored backup keeps its cursors valid). A token of
// another kind, or a made-up one, fails the tag (a chance of 2^-64).

// tokenKind names what a sealed number counts.
type tokenKind byte

const (
	tokenCursor tokenKind = iota + 1
	tokenTransitionPage
	tokenNotification
)

// tokenTag fills the block's second half; only the kind byte varies.
var tokenTag = [7]byte{'d', 'p', 'm', 'o', 'n', 0, 1}

var metaTokenKey = []byte("token_key")

type sealer struct{ block cipher.Block }

// loadSealer reads the token key, making it on the first start.
func loadSealer(tx *bbolt.Tx) (sealer, error) {
	meta := tx.Bucket(bucketMeta)
	key := meta.Get(metaTokenKey)
	if key == nil {
		key = make([]byte, 16)
		if _, err := rand.Read(key); err != nil {
			return sealer{}, fmt.Errorf("token key: %w", err)
		}
		if err := meta.Put(metaTokenKey, key); err != nil {
			return sealer{}, fmt.Errorf("token key: %w", err)
		}
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return sealer{}, fmt.Errorf("token key: %w", err)
	}
	return sealer{block}, nil
}

func (s sealer) seal(kind tokenKind, seq uint64) string {
	var b [aes.BlockSize]byte
	binary.BigEndian.PutUint64(b[:8], seq)
	b[8] = byte(kind)
	copy(b[9:], tokenTag[:])
	s.block.Encrypt(b[:], b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// open returns the number sealed in token, if it is a token of kind.
func (s sealer) open(kind tokenKind, token string) (uint64, bool) {
	var b [aes.BlockSize]byte
	if base64.RawURLEncoding.DecodedLen(len(token)) != len(b) {
		return 0, false
	}
	if n, err := base64.RawURLEncoding.Decode(b[:], []byte(token)); err != nil || n != len(b) {
		return 0, false
	}
	s.block.Decrypt(b[:], b[:])
	if b[8] != byte(kind) || [7]byte(b[9:]) != tokenTag {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[:8]), true
}
