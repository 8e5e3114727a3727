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
// accounts do. So they leave the store sealed with AES-GCM, under a key
// made at the first start and kept in the file (a restored backup keeps
// its cursors valid).
//
// Each token has a fresh random nonce: the same number sealed twice gives
// two unrelated tokens, so a sender that asks twice where "now" is cannot
// tell whether anything happened in between. The number is always eight
// bytes, so a token's length says nothing of its size either. The kind is
// the additional data: a page token does not open as a cursor, and a
// made-up or changed token fails authentication. Random 96-bit nonces are
// safe for about 2^32 tokens under one key (NIST SP 800-38D).

// tokenKind names what a sealed number counts.
type tokenKind byte

const (
	tokenCursor tokenKind = iota + 1
	tokenTransitionPage
	tokenNotification
)

var metaTokenKey = []byte("token_key")

// tokenLen is the length of a token: nonce, number and tag, in base64.
var tokenLen = base64.RawURLEncoding.EncodedLen(12 + 8 + 16)

type sealer struct{ aead cipher.AEAD }

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
	// The library draws each nonce and puts it in front of the sealed
	// number, so that no caller can repeat one.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return sealer{}, fmt.Errorf("token key: %w", err)
	}
	return sealer{aead}, nil
}

func (s sealer) seal(kind tokenKind, seq uint64) string {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], seq)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nil, nil, n[:], []byte{byte(kind)}))
}

// open returns the number sealed in token, if it is a token of kind that
// this store made.
func (s sealer) open(kind tokenKind, token string) (uint64, bool) {
	if len(token) != tokenLen {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, false
	}
	n, err := s.aead.Open(nil, nil, b, []byte{byte(kind)})
	if err != nil || len(n) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(n), true
}
