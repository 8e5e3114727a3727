package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// Transitions are stored by global sequence number in bucketTransitions, so
// that they can be followed in order, and indexed per account in
// bucketAccountTransitions under account id, NUL, sequence number.

type transitionRecord struct {
	V         int             `json:"v"`
	AccountID string          `json:"account_id"`
	At        time.Time       `json:"at"`
	From      monitor.Phase   `json:"from"`
	To        monitor.Phase   `json:"to"`
	Reason    string          `json:"reason"`
	Findings  []findingRecord `json:"findings,omitempty"`
	// Added with escalation; absent in older records.
	Recommendations []string `json:"recommendations,omitempty"`
	Actor           string   `json:"actor,omitempty"`
	// Added with the bulk policy.
	Sender string             `json:"sender,omitempty"`
	Code   monitor.ReasonCode `json:"code,omitempty"`
}

type findingRecord struct {
	Metric          monitor.Metric   `json:"metric"`
	Window          string           `json:"window"`
	Value           float64          `json:"value"`
	Lower           float64          `json:"lower"`
	Upper           float64          `json:"upper"`
	Threshold       float64          `json:"threshold"`
	Severity        monitor.Severity `json:"severity"`
	Decision        monitor.Decision `json:"decision"`
	Sends           uint64           `json:"sends"`
	Message         string           `json:"message"`
	Recommendations []string         `json:"recommendations,omitempty"`
}

const transitionVersion = 1

func encodeTransition(t monitor.Transition) ([]byte, error) {
	return json.Marshal(transitionRecord{
		V: transitionVersion, AccountID: t.AccountID, At: t.At, From: t.From, To: t.To, Reason: t.Reason,
		Findings: findingRecords(t.Findings), Recommendations: t.Recommendations, Actor: t.Actor,
		Sender: t.Sender, Code: t.Code,
	})
}

func decodeTransition(v []byte) (monitor.Transition, error) {
	var r transitionRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return monitor.Transition{}, err
	}
	if r.V != transitionVersion {
		return monitor.Transition{}, fmt.Errorf("%w: transition record version %d", errCorrupt, r.V)
	}
	return monitor.Transition{
		AccountID: r.AccountID, At: r.At, From: r.From, To: r.To, Reason: r.Reason,
		Findings: findingsFromRecords(r.Findings), Recommendations: r.Recommendations, Actor: r.Actor,
		Sender: r.Sender, Code: r.Code,
	}, nil
}

func findingRecords(fs []monitor.Finding) []findingRecord {
	var out []findingRecord
	for _, f := range fs {
		out = append(out, findingRecord{
			Metric: f.Metric, Window: f.Window, Value: f.Rate.Value, Lower: f.Rate.Lower, Upper: f.Rate.Upper,
			Threshold: f.Threshold, Severity: f.Severity, Decision: f.Decision, Sends: f.Sends,
			Message: f.Message, Recommendations: f.Recommendations,
		})
	}
	return out
}

func findingsFromRecords(rs []findingRecord) []monitor.Finding {
	var out []monitor.Finding
	for _, f := range rs {
		out = append(out, monitor.Finding{
			Metric: f.Metric, Window: f.Window, Rate: monitor.Rate{Value: f.Value, Lower: f.Lower, Upper: f.Upper},
			Threshold: f.Threshold, Severity: f.Severity, Decision: f.Decision, Sends: f.Sends,
			Message: f.Message, Recommendations: f.Recommendations,
		})
	}
	return out
}

func putTransitions(tx *bbolt.Tx, ts []encodedTransition) error {
	all, index := tx.Bucket(bucketTransitions), tx.Bucket(bucketAccountTransitions)
	for _, t := range ts {
		if err := all.Put(seqKey(t.seq), t.value); err != nil {
			return fmt.Errorf("append transition: %w", err)
		}
		if err := index.Put(accountTransitionKey(t.accountID, t.seq), nil); err != nil {
			return fmt.Errorf("index transition: %w", err)
		}
	}
	return nil
}

func accountTransitionKey(id string, seq uint64) []byte {
	k := make([]byte, 0, len(id)+9)
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// Transitions lists the committed transitions of account id, newest first,
// at most pageSize of them, and the token for the next page.
func (db *DB) Transitions(ctx context.Context, id string, pageSize int, pageToken string) ([]monitor.Transition, string, error) {
	if pageSize <= 0 {
		pageSize = 100
	}
	before := uint64(math.MaxUint64)
	if pageToken != "" {
		seq, ok := db.tokens.open(tokenTransitionPage, pageToken)
		if !ok {
			return nil, "", errBadPageToken
		}
		before = seq
	}
	db.mu.RLock()
	_, known := db.accounts[id]
	db.mu.RUnlock()
	if !known && !db.stored(id) {
		return nil, "", fmt.Errorf("account %q: %w", id, monitor.ErrNotFound)
	}
	var out []monitor.Transition
	var last uint64
	next := ""
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		all := tx.Bucket(bucketTransitions)
		prefix := accountTransitionKey(id, 0)[:len(id)+1]
		c := tx.Bucket(bucketAccountTransitions).Cursor()
		k, _ := c.Seek(accountTransitionKey(id, before))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, _ = c.Prev() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(out) == pageSize {
				// Continue below the last one returned.
				next = db.tokens.seal(tokenTransitionPage, last)
				return nil
			}
			seq := k[len(prefix):]
			t, err := decodeTransition(all.Get(seq))
			if err != nil {
				return fmt.Errorf("transition %x: %w", seq, err)
			}
			out = append(out, t)
			last = decodeSeq(seq)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list transitions of %q: %w", id, err)
	}
	return out, next, nil
}
