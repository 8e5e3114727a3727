package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// Actor is who made a call: the name of its token or certificate, and its
// role.
type Actor struct {
	Name string
	Role string
}

// AuditEvent is one state-changing call, recorded in the transaction of
// the change it made, so that the record and the state never disagree.
type AuditEvent struct {
	Seq       uint64 // set when read back
	At        time.Time
	Actor     Actor
	Action    string // the call, e.g. "ApproveTicket"
	AccountID string
	TicketID  string
	// Before and After are the account's phase or the ticket's state, when
	// the call changed one.
	Before, After string
	Detail        string
}

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

func encodeAudit(e AuditEvent) ([]byte, error) {
	return json.Marshal(auditRecord{
		V: auditVersion, At: e.At.UTC(), Actor: e.Actor.Name, Role: e.Actor.Role, Action: e.Action,
		AccountID: e.AccountID, TicketID: e.TicketID, Before: e.Before, After: e.After, Detail: e.Detail,
	})
}

func decodeAudit(seq uint64, v []byte) (AuditEvent, error) {
	var r auditRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return AuditEvent{}, err
	}
	if r.V != auditVersion {
		return AuditEvent{}, fmt.Errorf("%w: audit record version %d", errCorrupt, r.V)
	}
	return AuditEvent{Seq: seq, At: r.At, Actor: Actor{Name: r.Actor, Role: r.Role}, Action: r.Action,
		AccountID: r.AccountID, TicketID: r.TicketID, Before: r.Before, After: r.After, Detail: r.Detail}, nil
}

// putAudit appends a job's audit events; the log is append-only.
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
func putAuditEvent(tx *bbolt.Tx, e AuditEvent) error {
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

func (f AuditFilter) match(e AuditEvent) bool {
	return (f.AccountID == "" || e.AccountID == f.AccountID) && (f.Actor == "" || e.Actor.Name == f.Actor) &&
		(f.Since.IsZero() || !e.At.Before(f.Since)) && (f.Until.IsZero() || e.At.Before(f.Until))
}

// Audit returns up to limit audit events matching f, newest first, from
// before the page token on, and the token of the next page ("" at the end).
func (db *DB) Audit(ctx context.Context, f AuditFilter, limit int, pageToken string) ([]AuditEvent, string, error) {
	var out []AuditEvent
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

// audited returns the audit event of a change to account a by who.
func audited(now time.Time, who Actor, action string, a *monitor.Account, before monitor.Phase, detail string) AuditEvent {
	e := AuditEvent{At: now, Actor: who, Action: action, AccountID: a.ID, Detail: detail}
	if before != a.State.Phase {
		e.Before, e.After = before.String(), a.State.Phase.String()
	}
	return e
}
