package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"
)

// The daily reputation scores are kept in bucketReputation under account
// id, NUL, day number (days since the Unix epoch, big-endian uint32); the
// value is the score as one byte.

// ReputationDays is how many days of scores are kept.
const ReputationDays = 90

// DailyScore is an account's reputation score recorded for one day (UTC).
type DailyScore struct {
	Day   time.Time
	Score int
}

type dailyScore struct {
	accountID string
	day       uint32
	score     uint8
}

func dayNumber(t time.Time) uint32 { return uint32(t.Unix() / 86400) }

func reputationKey(accountID string, day uint32) []byte {
	k := make([]byte, 0, len(accountID)+5)
	k = append(k, accountID...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, day)
}

// RecordReputation records every account's score of the day of now, and
// forgets scores older than ReputationDays. It runs daily; running it
// again the same day replaces that day's scores.
func (db *DB) RecordReputation(ctx context.Context, now time.Time) error {
	db.mu.RLock()
	ids := make([]string, 0, len(db.accounts))
	for id := range db.accounts {
		ids = append(ids, id)
	}
	db.mu.RUnlock()
	for chunk := range slices.Chunk(ids, sweepChunk) {
		o := &op{at: now, apply: func(g *group) error {
			for _, id := range chunk {
				if a, ok := db.accounts[id]; ok {
					score := a.ReputationScore(g.now, &db.policy)
					g.reputation = append(g.reputation, dailyScore{accountID: id, day: dayNumber(g.now), score: uint8(score)})
				}
			}
			return nil
		}}
		if err := db.submit(ctx, o); err != nil {
			return fmt.Errorf("record reputation: %w", err)
		}
	}
	return nil
}

// putReputation writes the day's scores and deletes each account's scores
// older than ReputationDays.
func putReputation(tx *bbolt.Tx, scores []dailyScore) error {
	b := tx.Bucket(bucketReputation)
	for _, s := range scores {
		if err := b.Put(reputationKey(s.accountID, s.day), []byte{s.score}); err != nil {
			return fmt.Errorf("record reputation of %s: %w", s.accountID, err)
		}
		cutoff := reputationKey(s.accountID, s.day-ReputationDays+1)
		prefix := cutoff[:len(s.accountID)+1]
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.Compare(k, cutoff) < 0; k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return fmt.Errorf("forget old reputation of %s: %w", s.accountID, err)
			}
		}
	}
	return nil
}

// ReputationHistory returns the account's recorded scores of the last
// days days before now, oldest first.
func (db *DB) ReputationHistory(ctx context.Context, accountID string, days int, now time.Time) ([]DailyScore, error) {
	var out []DailyScore
	from := reputationKey(accountID, dayNumber(now)-uint32(days)+1)
	prefix := from[:len(accountID)+1]
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := tx.Bucket(bucketReputation).Cursor()
		for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+4; k, v = c.Next() {
			if len(v) != 1 {
				return fmt.Errorf("reputation record %x: %w", k, errCorrupt)
			}
			day := binary.BigEndian.Uint32(k[len(prefix):])
			out = append(out, DailyScore{Day: time.Unix(int64(day)*86400, 0).UTC(), Score: int(v[0])})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reputation history of %s: %w", accountID, err)
	}
	return out, nil
}
