package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// accountRecord is what is stored of an account; its counts are not: they
// are rebuilt from the event log.
type accountRecord struct {
	V           int             `json:"v"`
	ID          string          `json:"id"`
	DisplayName string          `json:"display_name,omitempty"`
	AdminEmails []string        `json:"admin_emails,omitempty"`
	Overrides   overridesRecord `json:"overrides"`
	CreatedAt   time.Time       `json:"created_at"`
	Phase       monitor.Phase   `json:"phase"`
	PhaseSince  time.Time       `json:"phase_since"`
	PhaseReason string          `json:"phase_reason,omitempty"`
	ClearSince  time.Time       `json:"clear_since,omitzero"`
	// PhaseFindings are the breaches that moved the account into its phase.
	PhaseFindings []findingRecord `json:"phase_findings,omitempty"`
	CountFrom     time.Time       `json:"count_from,omitzero"`
	// Added with escalation and tickets; absent in older records.
	Recommendations []string                   `json:"recommendations,omitempty"`
	AckedAt         time.Time                  `json:"acked_at,omitzero"`
	AckNote         string                     `json:"ack_note,omitempty"`
	Category        monitor.SuspensionCategory `json:"category,omitempty"`
	Warnings        []time.Time                `json:"warnings,omitempty"`
	Reinstatements  []time.Time                `json:"reinstatements,omitempty"`
	OpenTicket      string                     `json:"open_ticket,omitempty"`
	// Added with the bulk policy, quotas and the reputation score.
	Bulk          *bool                   `json:"bulk,omitempty"`
	BulkSince     time.Time               `json:"bulk_since,omitzero"`
	Senders       map[string]senderRecord `json:"senders,omitempty"`
	QuotaPerDay   uint64                  `json:"quota_per_day,omitempty"`
	QuotaPerSec   uint32                  `json:"quota_per_second,omitempty"`
	ReputationLow bool                    `json:"reputation_low,omitempty"`
}

type senderRecord struct {
	Blocked     bool      `json:"blocked,omitempty"`
	Since       time.Time `json:"since"`
	Reason      string    `json:"reason,omitempty"`
	Distinct    int       `json:"distinct,omitempty"`
	Limit       int       `json:"limit,omitempty"`
	BounceShare float64   `json:"bounce_share,omitempty"`
	OpenTicket  string    `json:"open_ticket,omitempty"`
	CountFrom   time.Time `json:"count_from,omitzero"`
}

type overridesRecord struct {
	HardBounceWarn    *float64          `json:"hard_bounce_warn,omitempty"`
	HardBounceSuspend *float64          `json:"hard_bounce_suspend,omitempty"`
	ComplaintWarn     *float64          `json:"complaint_warn,omitempty"`
	ComplaintSuspend  *float64          `json:"complaint_suspend,omitempty"`
	BlockWarn         *float64          `json:"block_warn,omitempty"`
	BlockSuspend      *float64          `json:"block_suspend,omitempty"`
	Decision          monitor.Decision  `json:"decision,omitempty"`
	CoolDown          time.Duration     `json:"cool_down,omitempty"`
	MinSends          map[string]uint64 `json:"min_sends,omitempty"`
}

const accountVersion = 1

func encodeAccount(a *monitor.Account) ([]byte, error) {
	o := a.Overrides
	return json.Marshal(accountRecord{
		V: accountVersion, ID: a.ID, DisplayName: a.DisplayName, AdminEmails: a.AdminEmails,
		Overrides: overridesRecord{
			HardBounceWarn: o.HardBounceWarn, HardBounceSuspend: o.HardBounceSuspend,
			ComplaintWarn: o.ComplaintWarn, ComplaintSuspend: o.ComplaintSuspend,
			BlockWarn: o.BlockWarn, BlockSuspend: o.BlockSuspend,
			Decision: o.Decision, CoolDown: o.CoolDown, MinSends: o.MinSends,
		},
		CreatedAt: a.CreatedAt, Phase: a.State.Phase, PhaseSince: a.State.Since,
		PhaseReason: a.State.Reason, ClearSince: a.State.ClearSince, CountFrom: a.CountFrom,
		PhaseFindings:   findingRecords(a.State.Findings),
		Recommendations: a.State.Recommendations, AckedAt: a.State.AckedAt, AckNote: a.State.AckNote,
		Category: a.State.Category, Warnings: a.State.Warnings, Reinstatements: a.Reinstatements,
		OpenTicket: a.OpenTicket, Bulk: a.Bulk.Ptr(), BulkSince: a.BulkSince, Senders: senderRecords(a.Senders),
		QuotaPerDay: a.Quota.PerDay, QuotaPerSec: a.Quota.PerSecond, ReputationLow: a.ReputationLow,
	})
}

func senderRecords(m map[string]*monitor.Sender) map[string]senderRecord {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]senderRecord, len(m))
	for k, s := range m {
		out[k] = senderRecord{Blocked: s.Blocked, Since: s.Since, Reason: s.Reason, Distinct: s.Distinct, Limit: s.Limit,
			BounceShare: s.BounceShare, OpenTicket: s.OpenTicket, CountFrom: s.CountFrom}
	}
	return out
}

func decodeAccount(v []byte, p monitor.Policy) (*monitor.Account, error) {
	var r accountRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	if r.V != accountVersion {
		return nil, fmt.Errorf("%w: account record version %d", errCorrupt, r.V)
	}
	a := monitor.NewAccount(r.ID, r.CreatedAt, p)
	a.DisplayName, a.AdminEmails, a.CountFrom = r.DisplayName, r.AdminEmails, r.CountFrom
	o := r.Overrides
	a.Overrides = monitor.Overrides{
		HardBounceWarn: o.HardBounceWarn, HardBounceSuspend: o.HardBounceSuspend,
		ComplaintWarn: o.ComplaintWarn, ComplaintSuspend: o.ComplaintSuspend,
		BlockWarn: o.BlockWarn, BlockSuspend: o.BlockSuspend,
		Decision: o.Decision, CoolDown: o.CoolDown, MinSends: o.MinSends,
	}
	a.State = monitor.PhaseState{
		Phase: r.Phase, Since: r.PhaseSince, Reason: r.PhaseReason, ClearSince: r.ClearSince,
		Findings: findingsFromRecords(r.PhaseFindings), Recommendations: r.Recommendations,
		AckedAt: r.AckedAt, AckNote: r.AckNote, Category: r.Category, Warnings: r.Warnings,
	}
	a.Reinstatements, a.OpenTicket = r.Reinstatements, r.OpenTicket
	a.Bulk, a.BulkSince = monitor.BulkChoiceOf(r.Bulk), r.BulkSince
	a.Quota, a.ReputationLow = monitor.Quota{PerDay: r.QuotaPerDay, PerSecond: r.QuotaPerSec}, r.ReputationLow
	for k, s := range r.Senders {
		if a.Senders == nil {
			a.Senders = make(map[string]*monitor.Sender, len(r.Senders))
		}
		a.Senders[k] = &monitor.Sender{Blocked: s.Blocked, Since: s.Since, Reason: s.Reason, Distinct: s.Distinct, Limit: s.Limit,
			BounceShare: s.BounceShare, OpenTicket: s.OpenTicket, CountFrom: s.CountFrom}
	}
	return a, nil
}

// Account returns a copy of the account id, as it is durably.
func (db *DB) Account(ctx context.Context, id string) (*monitor.Account, error) {
	var out *monitor.Account
	err := db.ReadAccount(ctx, id, func(a *monitor.Account) { out = a.Clone() })
	return out, err
}

// ReadAccount calls read with the live account id under the read lock: for
// an answer that needs a little of a large account (CheckSend, on every
// message a platform sends) without the copy Account makes of all its
// senders' counts. read must be quick, must not change a and must not
// keep it or anything reachable from it. An account whose record a commit
// not yet durable changed is read once that commit is (see settled.go).
func (db *DB) ReadAccount(ctx context.Context, id string, read func(a *monitor.Account)) error {
	found := false
	err := db.settledRead(ctx, func() uint64 {
		if seq := db.pendingSeq(unsettledAccount(id)); seq != 0 {
			return seq
		}
		a, ok := db.accounts[id]
		if found = ok; ok {
			read(a)
		}
		return 0
	})
	if err != nil || found {
		return err
	}
	// Not in memory: dormant, or unknown. A dormant account is durable
	// as it is on disk; one woken since reads the same.
	a, err := db.readStored(id)
	switch {
	case err != nil:
		return err
	case a == nil:
		return fmt.Errorf("account %q: %w", id, monitor.ErrNotFound)
	}
	read(a)
	return nil
}

// AccountFilter selects accounts to list.
type AccountFilter struct {
	// Phase, when set, keeps only accounts in that phase.
	Phase monitor.Phase
	// IDs, when not nil, keeps only these accounts.
	IDs []string
	// Prefix, when set, keeps only accounts whose id starts with it: the
	// listing seeks to it, so that a search reads only what matches.
	Prefix string
	// PageSize is at most how many accounts to return.
	PageSize int
	// PageToken continues a listing; "" starts it.
	PageToken string
}

// errBadPageToken names the field a client got wrong.
var errBadPageToken = monitor.FieldErrors{{Field: "page_token", Reason: "is not one this server issued"}}

// Accounts lists copies of accounts in id order, and the token for the next
// page ("" after the last).
func (db *DB) Accounts(ctx context.Context, f AccountFilter) ([]*monitor.Account, string, error) {
	after, err := base64.RawURLEncoding.DecodeString(f.PageToken)
	if err != nil {
		return nil, "", errBadPageToken
	}
	if f.PageSize <= 0 {
		f.PageSize = 100
	}
	matches := func(a *monitor.Account) bool {
		return (f.Phase == 0 || a.State.Phase == f.Phase) && (f.IDs == nil || slices.Contains(f.IDs, a.ID))
	}
	var out []*monitor.Account
	for {
		// The ids come a chunk per read transaction, and each account is
		// read after it: a read that waits for a commit must not hold a
		// transaction, which the commit may wait for (to grow the file).
		var ids []string
		if f.Phase != 0 && f.Phase != monitor.PhaseHealthy {
			// The few accounts not healthy are indexed: a listing of
			// them reads no other account.
			ids = db.phases.idsAfter(f.Phase, string(after), f.Prefix, 1000)
		} else if ids, err = db.accountIDs(after, f.Prefix, 1000); err != nil {
			return nil, "", fmt.Errorf("list accounts: %w", err)
		}
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return nil, "", err
			}
			var a *monitor.Account
			if err := db.ReadAccount(ctx, id, func(live *monitor.Account) {
				if matches(live) {
					a = live.Clone()
				}
			}); err != nil && !errors.Is(err, monitor.ErrNotFound) {
				return nil, "", fmt.Errorf("list accounts: %w", err)
			}
			if a == nil {
				continue
			}
			if len(out) == f.PageSize {
				return out, base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID)), nil
			}
			out = append(out, a)
		}
		if len(ids) == 0 {
			return out, "", nil
		}
		after = []byte(ids[len(ids)-1])
	}
}

// accountIDs returns up to n account ids after the id after that start
// with prefix, in order.
func (db *DB) accountIDs(after []byte, prefix string, n int) ([]string, error) {
	var ids []string
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketAccounts).Cursor()
		from := after
		if bytes.Compare(from, []byte(prefix)) < 0 {
			from = []byte(prefix)
		}
		k, _ := c.Seek(from)
		if k != nil && len(after) > 0 && bytes.Equal(k, after) {
			k, _ = c.Next()
		}
		for ; k != nil && len(ids) < n && bytes.HasPrefix(k, []byte(prefix)); k, _ = c.Next() {
			ids = append(ids, string(k))
		}
		return nil
	})
	return ids, err
}

// UpdateAccount changes the settings of account id, creating it if it does
// not exist: change gets a copy and may refuse with an error, which leaves
// everything as it was. The account is judged again at once, since new
// thresholds may move its phase. It returns a copy of the result once it
// is durable.
func (db *DB) UpdateAccount(ctx context.Context, id string, who monitor.Actor, change func(a *monitor.Account) error) (*monitor.Account, error) {
	return db.changeAccount(ctx, id, true, func(g *group, a *monitor.Account) error {
		return g.d.Update(a, who, change)
	})
}

// AcknowledgeWarning records the account's answer to its warning, which
// stops the warning's deadline.
func (db *DB) AcknowledgeWarning(ctx context.Context, id, note string, who monitor.Actor) (*monitor.Account, error) {
	return db.changeAccount(ctx, id, false, func(g *group, a *monitor.Account) error {
		return g.d.Acknowledge(a, who, note)
	})
}

// SuspendAccount suspends an account by an admin's hand.
func (db *DB) SuspendAccount(ctx context.Context, id string, c monitor.SuspensionCategory, note string, who monitor.Actor) (*monitor.Account, error) {
	return db.changeAccount(ctx, id, false, func(g *group, a *monitor.Account) error {
		return g.d.Suspend(a, who, c, note)
	})
}

// UnblockSender lifts the bulk-policy block of one sender address of the
// account by an admin's hand.
func (db *DB) UnblockSender(ctx context.Context, id, sender, note string, who monitor.Actor) (monitor.SenderStatus, error) {
	var st monitor.SenderStatus
	_, err := db.changeAccount(ctx, id, false, func(g *group, a *monitor.Account) (err error) {
		st, err = g.d.UnblockSender(a, who, sender, note)
		return err
	})
	return st, err
}

// Unknown returns the ids, of those given, of accounts the store does not
// track (yet).
func (db *DB) Unknown(ids []string) []string {
	var out []string
	db.mu.RLock()
	defer db.mu.RUnlock()
	for _, id := range ids {
		// An account not yet durable is not known yet either; a dormant one
		// is known from its record.
		_, resident := db.accounts[id]
		if resident && db.pendingSeq(unsettledNew(id)) != 0 || !resident && !db.stored(id) {
			out = append(out, id)
		}
	}
	return out
}

// PlatformSends returns the platform's sends in the bulk window before now.
func (db *DB) PlatformSends(now time.Time) uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.volume.Sum(now, db.policy.Bulk)
}

// changeAccount is the write path of a call that changes one account: the
// change gets a copy of the account (a new one if create is set and it
// does not exist, else monitor.ErrNotFound), and hands it to the group's
// Decider; the copy replaces the live account only if the call succeeds,
// and the Decider's outcome of it is written in the same commit. The
// account is then judged at the commit's instant.
func (db *DB) changeAccount(ctx context.Context, id string, create bool, change func(g *group, a *monitor.Account) error) (*monitor.Account, error) {
	var result *monitor.Account
	o := &op{apply: func(g *group) error {
		var a *monitor.Account
		live, ok, err := db.live(g, id)
		switch {
		case err != nil:
			return err
		case ok:
			a = live.Clone()
		case create:
			if db.maxAccounts > 0 && db.known() >= db.maxAccounts {
				return fmt.Errorf("account %q is new: %w", id, ErrAccountLimit)
			}
			a = monitor.NewAccount(id, g.now, db.policy)
		default:
			return fmt.Errorf("account %q: %w", id, monitor.ErrNotFound)
		}
		if err := change(g, a); err != nil {
			return err
		}
		if _, ok := db.accounts[id]; !ok {
			db.createAccount(g, id)
		}
		db.accounts[id] = a
		db.accountsGen++
		db.saveAccount(g, id)
		g.touched[a] = struct{}{}
		g.markTallied(id)
		result = a
		return nil
	}}
	if err := db.submit(ctx, o); err != nil {
		return nil, fmt.Errorf("change account %q: %w", id, err)
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	return result.Clone(), nil
}

// sweepChunk is how many accounts one sweep group judges, so that ingestion
// interleaves with a sweep over many accounts instead of waiting for it.
const sweepChunk = 4096

// Sweep judges every account at now, so that warnings clear as windows
// slide even for accounts that stopped sending. It returns how many
// transitions it made.
func (db *DB) Sweep(ctx context.Context, now time.Time) (int, error) {
	db.mu.RLock()
	ids := make([]string, 0, len(db.accounts))
	for id := range db.accounts {
		ids = append(ids, id)
	}
	db.mu.RUnlock()
	made := 0
	for chunk := range slices.Chunk(ids, sweepChunk) {
		o := &op{at: now, apply: func(g *group) error {
			g.sweep = true
			for _, id := range chunk {
				if a, ok := db.accounts[id]; ok {
					g.touched[a] = struct{}{}
				}
			}
			return nil
		}}
		if err := db.submit(ctx, o); err != nil {
			return made, fmt.Errorf("sweep: %w", err)
		}
		// An op with its own instant is committed alone: the group's
		// transitions are the sweep's.
		made += o.transitions
	}
	return made, nil
}

// PhaseCounts counts the accounts in each phase, dormant ones included, for
// metrics. The counts follow the commits, so a scrape does not walk the
// accounts.
func (db *DB) PhaseCounts() map[monitor.Phase]int { return db.phases.read() }

// EventsDurable counts the events made durable since the store opened:
// sampled twice, the ingest rate.
func (db *DB) EventsDurable() uint64 { return db.eventsDurable.Load() }

// phaseCounts counts durable accounts by phase, and knows the ids of those
// that are not healthy (few: an index, so that listing them does not scan
// every account): loaded at start, then
// moved by each commit's accounts and transitions, on the writer.
type phaseCounts struct {
	mu  sync.Mutex
	n   map[monitor.Phase]int
	ids map[monitor.Phase]map[string]struct{}
}

// load counts the accounts in memory and the dormant ones, whose phases
// not healthy come by id.
func (c *phaseCounts) load(accounts map[string]*monitor.Account, dormant map[monitor.Phase]int, dormantIDs map[string]monitor.Phase) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = maps.Clone(dormant)
	c.ids = map[monitor.Phase]map[string]struct{}{}
	for _, a := range accounts {
		c.n[a.State.Phase]++
		c.index(a.ID, a.State.Phase)
	}
	for id, p := range dormantIDs {
		c.index(id, p)
	}
}

func (c *phaseCounts) index(id string, p monitor.Phase) {
	if p == monitor.PhaseHealthy {
		return
	}
	if c.ids[p] == nil {
		c.ids[p] = map[string]struct{}{}
	}
	c.ids[p][id] = struct{}{}
}

// committed counts the accounts a commit created, healthy, then its moves.
func (c *phaseCounts) committed(created int, made []monitor.Transition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[monitor.PhaseHealthy] += created
	for _, t := range made {
		if t.Sender == "" && t.From != t.To {
			c.n[t.From]--
			c.n[t.To]++
			delete(c.ids[t.From], t.AccountID)
			c.index(t.AccountID, t.To)
		}
	}
}

// idsAfter returns up to n ids of accounts in phase p (not healthy) after
// the id after that start with prefix, in order.
func (c *phaseCounts) idsAfter(p monitor.Phase, after, prefix string, n int) []string {
	c.mu.Lock()
	var ids []string
	for id := range c.ids[p] {
		if id > after && strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	slices.Sort(ids)
	return ids[:min(n, len(ids))]
}

func (c *phaseCounts) read() map[monitor.Phase]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// AccountsInPhase returns copies of every account in phase p, in id order.
func (db *DB) AccountsInPhase(ctx context.Context, p monitor.Phase) ([]*monitor.Account, error) {
	var out []*monitor.Account
	token := ""
	for {
		page, next, err := db.Accounts(ctx, AccountFilter{Phase: p, PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if token = next; token == "" {
			return out, nil
		}
	}
}
