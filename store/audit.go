package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

type auditRecord struct {
	V         int       `json:"v"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Role      string    `json:"role"`
	Action    string    `json:"action"`
	AccountID string    `json:"account_id,omitempty"`
	TicketID  string    `json:"ticket_id,omitempty"`
	Before    string    `json:"before,omitempty"`
	After     string    `json:"after,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

const auditVersion = 1

func encodeAudit(e monitor.AuditEntry) ([]byte, error) {
	return json.Marshal(auditRecord{
		V: auditVersion, At: e.At.UTC(), Actor: e.Actor.Name, Role: e.Actor.Role, Action: e.Action,
		AccountID: e.AccountID, TicketID: e.TicketID, Before: e.Before, After: e.After, Detail: e.Detail,
	})
}

func decodeAudit(seq uint64, v []byte) (monitor.AuditEntry, error) {
	var r auditRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return monitor.AuditEntry{}, err
	}
	if r.V != auditVersion {
		return monitor.AuditEntry{}, fmt.Errorf("%w: audit record version %d", errCorrupt, r.V)
	}
	return monitor.AuditEntry{Seq: seq, At: r.At, Actor: monitor.Actor{Name: r.Actor, Role: r.Role}, Action: r.Action,
		AccountID: r.AccountID, TicketID: r.TicketID, Before: r.Before, After: r.After, Detail: r.Detail}, nil
}

// putAudit appends a group's audit entries; the log is append-only.
func putAudit(tx *bbolt.Tx, events [][]byte) error {
	b := tx.Bucket(bucketAudit)
	for _, v := range events {
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("audit sequence: %w", err)
		}
		if err := b.Put(seqKey(seq), v); err != nil {
			return fmt.Errorf("append audit event: %w", err)
		}
	}
	return nil
}

// putAuditEvent appends one audit event inside tx.
func putAuditEvent(tx *bbolt.Tx, e monitor.AuditEntry) error {
	v, err := encodeAudit(e)
	if err != nil {
		return fmt.Errorf("encode audit event: %w", err)
	}
	return putAudit(tx, [][]byte{v})
}

// AuditFilter selects audit events; zero fields select all.
type AuditFilter struct {
	AccountID string
	Actor     string
	Since     time.Time // at or after
	Until     time.Time // before
}

func (f AuditFilter) match(e monitor.AuditEntry) bool {
	return (f.AccountID == "" || e.AccountID == f.AccountID) && (f.Actor == "" || e.Actor.Name == f.Actor) &&
		(f.Since.IsZero() || !e.At.Before(f.Since)) && (f.Until.IsZero() || e.At.Before(f.Until))
}

// Audit returns up to limit audit events matching f, newest first, from
// before the page token on, and the token of the next page ("" at the end).
func (db *DB) Audit(ctx context.Context, f AuditFilter, limit int, pageToken string) ([]monitor.AuditEntry, string, error) {
	var out []monitor.AuditEntry
	var next string
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		next, err = newestFirst(tx.Bucket(bucketAudit), pageToken, limit, func(seq uint64, v []byte) (bool, bool, error) {
			e, err := decodeAudit(seq, v)
			if err != nil {
				return false, false, fmt.Errorf("audit event %d: %w", seq, err)
			}
			if !f.Since.IsZero() && e.At.Before(f.Since) {
				return false, true, nil // the log is in time order: nothing older matches
			}
			if !f.match(e) {
				return false, false, ctx.Err()
			}
			out = append(out, e)
			return true, false, nil
		})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("audit: %w", err)
	}
	return out, next, nil
}
