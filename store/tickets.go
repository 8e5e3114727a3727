package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// Tickets are few (one per suspension), so all of them are kept in memory
// beside the accounts whose reinstatement they decide, and written as JSON
// records keyed by id in the transaction of the change.

type ticketRecord struct {
	V                    int                 `json:"v"`
	ID                   string              `json:"id"`
	AccountID            string              `json:"account_id"`
	State                monitor.TicketState `json:"state"`
	Description          string              `json:"description"`
	Checklist            checklistRecord     `json:"checklist"`
	CreatedAt            time.Time           `json:"created_at"`
	CreatedBy            string              `json:"created_by"`
	Comments             []commentRecord     `json:"comments,omitempty"`
	Approvals            []approvalRecord    `json:"approvals,omitempty"`
	RequiredApprovals    int                 `json:"required_approvals"`
	RecentReinstatements int                 `json:"recent_reinstatements,omitempty"`
	ClosedAt             time.Time           `json:"closed_at,omitzero"`
	ClosedBy             string              `json:"closed_by,omitempty"`
	Resolution           string              `json:"resolution,omitempty"`
	Sender               string              `json:"sender,omitempty"`
}

type checklistRecord struct {
	BouncedAddressesRemoved bool   `json:"bounced_addresses_removed,omitempty"`
	ListSource              string `json:"list_source,omitempty"`
	OptInMethod             string `json:"opt_in_method,omitempty"`
	ComplaintHandling       string `json:"complaint_handling,omitempty"`
	Authentication          string `json:"authentication,omitempty"`
}

type commentRecord struct {
	At     time.Time `json:"at"`
	Author string    `json:"author"`
	Role   string    `json:"role"`
	Text   string    `json:"text"`
}

type approvalRecord struct {
	At    time.Time `json:"at"`
	Admin string    `json:"admin"`
	Note  string    `json:"note,omitempty"`
}

const ticketVersion = 1

func encodeTicket(t *monitor.Ticket) ([]byte, error) {
	r := ticketRecord{
		V: ticketVersion, ID: t.ID, AccountID: t.AccountID, State: t.State, Description: t.Description,
		Checklist: checklistRecord(t.Checklist), CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy,
		RequiredApprovals: t.RequiredApprovals, RecentReinstatements: t.RecentReinstatements,
		ClosedAt: t.ClosedAt, ClosedBy: t.ClosedBy, Resolution: t.Resolution, Sender: t.Sender,
	}
	for _, c := range t.Comments {
		r.Comments = append(r.Comments, commentRecord(c))
	}
	for _, a := range t.Approvals {
		r.Approvals = append(r.Approvals, approvalRecord(a))
	}
	return json.Marshal(r)
}

func decodeTicket(v []byte) (*monitor.Ticket, error) {
	var r ticketRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	if r.V != ticketVersion {
		return nil, fmt.Errorf("%w: ticket record version %d", errCorrupt, r.V)
	}
	t := &monitor.Ticket{
		ID: r.ID, AccountID: r.AccountID, State: r.State, Description: r.Description,
		Checklist: monitor.Checklist(r.Checklist), CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy,
		RequiredApprovals: r.RequiredApprovals, RecentReinstatements: r.RecentReinstatements,
		ClosedAt: r.ClosedAt, ClosedBy: r.ClosedBy, Resolution: r.Resolution, Sender: r.Sender,
	}
	for _, c := range r.Comments {
		t.Comments = append(t.Comments, monitor.Comment(c))
	}
	for _, a := range r.Approvals {
		t.Approvals = append(t.Approvals, monitor.Approval(a))
	}
	return t, nil
}

// ticketIDs are random: a sender sees its tickets' ids, and numbered ones
// would tell it how many tickets the whole platform has. The caller holds
// the write lock.
func (db *DB) newTicketID() (string, error) {
	for {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("ticket id: %w", err)
		}
		id := "tkt-" + strings.ToLower(ticketIDEncoding.EncodeToString(b[:]))
		if _, taken := db.tickets[id]; !taken {
			return id, nil
		}
	}
}

var ticketIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func (db *DB) loadTickets(tx *bbolt.Tx) error {
	return tx.Bucket(bucketTickets).ForEach(func(k, v []byte) error {
		t, err := decodeTicket(v)
		if err != nil {
			return fmt.Errorf("ticket %q: %w", k, err)
		}
		db.tickets[t.ID] = t
		return nil
	})
}

// CreateTicket opens a reinstatement ticket for a suspended account, or,
// with a sender, for a sender address the bulk policy blocked.
func (db *DB) CreateTicket(ctx context.Context, accountID, sender, description string, c monitor.Checklist, who monitor.Actor) (*monitor.Ticket, error) {
	return db.changeTicket(ctx, "", accountID, func(g *group, a *monitor.Account, _ *monitor.Ticket) (*monitor.Ticket, error) {
		id, err := db.newTicketID()
		if err != nil {
			return nil, err
		}
		return g.d.OpenTicket(a, who, id, sender, description, c)
	})
}

// CommentTicket adds a comment to an open ticket.
func (db *DB) CommentTicket(ctx context.Context, id, text string, who monitor.Actor) (*monitor.Ticket, error) {
	return db.changeTicket(ctx, id, "", func(g *group, _ *monitor.Account, t *monitor.Ticket) (*monitor.Ticket, error) {
		return t, g.d.CommentTicket(t, who, text)
	})
}

// ApproveTicket records an admin's approval; with enough approvals the
// account is reinstated into probation in the same commit.
func (db *DB) ApproveTicket(ctx context.Context, id, note string, who monitor.Actor) (*monitor.Ticket, *monitor.Account, error) {
	var account *monitor.Account
	t, err := db.changeTicket(ctx, id, "", func(g *group, a *monitor.Account, t *monitor.Ticket) (*monitor.Ticket, error) {
		account = a
		return t, g.d.ApproveTicket(a, t, who, note)
	})
	if err != nil {
		return nil, nil, err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	return t, account.Clone(), nil
}

// RejectTicket closes a ticket with a reason; the account stays suspended.
func (db *DB) RejectTicket(ctx context.Context, id, reason string, who monitor.Actor) (*monitor.Ticket, error) {
	return db.changeTicket(ctx, id, "", func(g *group, a *monitor.Account, t *monitor.Ticket) (*monitor.Ticket, error) {
		return t, g.d.RejectTicket(a, t, who, reason)
	})
}

// changeTicket is the write path of the ticket calls. The change gets
// copies of the ticket id (nil when opening one for accountID) and of its
// account, and hands them to the group's Decider; if it succeeds, both
// replace the live ones and are saved with the Decider's outcome in one
// commit.
func (db *DB) changeTicket(ctx context.Context, id, accountID string,
	change func(g *group, a *monitor.Account, t *monitor.Ticket) (*monitor.Ticket, error),
) (*monitor.Ticket, error) {
	var result *monitor.Ticket
	o := &op{apply: func(g *group) error {
		var t *monitor.Ticket
		if id != "" {
			live, ok := db.tickets[id]
			if !ok {
				return fmt.Errorf("ticket %q: %w", id, monitor.ErrNotFound)
			}
			t, accountID = live.Clone(), live.AccountID
		}
		live, ok, err := db.live(g, accountID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("account %q: %w", accountID, monitor.ErrNotFound)
		}
		a := live.Clone()
		t, err = change(g, a, t)
		if err != nil {
			return err
		}
		db.tickets[t.ID], db.accounts[a.ID] = t, a
		db.accountsGen++
		db.saveTicket(g, t.ID)
		db.saveAccount(g, a.ID)
		g.touched[a] = struct{}{}
		g.markTallied(a.ID)
		result = t
		return nil
	}}
	if err := db.submit(ctx, o); err != nil {
		return nil, fmt.Errorf("ticket: %w", err)
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	return result.Clone(), nil
}

// Ticket returns a copy of ticket id.
func (db *DB) Ticket(ctx context.Context, id string) (*monitor.Ticket, error) {
	var out *monitor.Ticket
	err := db.settledRead(ctx, func() uint64 {
		if seq := db.pendingSeq(unsettledTicket(id)); seq != 0 {
			return seq
		}
		if t, ok := db.tickets[id]; ok {
			out = t.Clone()
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("ticket %q: %w", id, monitor.ErrNotFound)
	}
	return out, nil
}

// TicketFilter selects tickets; zero fields select all.
type TicketFilter struct {
	// Accounts, when not nil, keeps only the tickets of these accounts.
	Accounts []string
	State    monitor.TicketState
}

// Tickets returns up to limit tickets matching f, newest first, after the
// page token, and the token of the next page ("" at the end).
func (db *DB) Tickets(ctx context.Context, f TicketFilter, limit int, pageToken string) ([]*monitor.Ticket, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	var after *monitor.Ticket // the last of the previous page
	if pageToken != "" {
		var ok bool
		if after, ok = decodeTicketPage(pageToken); !ok {
			return nil, "", errBadPageToken
		}
	}
	var out []*monitor.Ticket
	next := ""
	err := db.settledRead(ctx, func() uint64 {
		var match []*monitor.Ticket
		var need uint64
		for id, t := range db.tickets {
			need = max(need, db.pendingSeq(unsettledTicket(id)))
			if (f.Accounts == nil || slices.Contains(f.Accounts, t.AccountID)) && (f.State == 0 || t.State == f.State) &&
				(after == nil || ticketsNewestFirst(t, after) > 0) {
				match = append(match, t)
			}
		}
		if need != 0 {
			return need
		}
		slices.SortFunc(match, ticketsNewestFirst)
		if len(match) > limit {
			match = match[:limit]
			next = encodeTicketPage(match[limit-1])
		}
		out = make([]*monitor.Ticket, len(match))
		for i, t := range match {
			out[i] = t.Clone()
		}
		return 0
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// ticketsNewestFirst orders tickets by the time they were opened, newest first;
// the id orders those opened in one commit.
func ticketsNewestFirst(a, b *monitor.Ticket) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// A ticket page token is the opening time and id of the page's last
// ticket: nothing the caller has not seen.
func encodeTicketPage(t *monitor.Ticket) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(t.CreatedAt.UnixNano()))
	return base64.RawURLEncoding.EncodeToString(append(b, t.ID...))
}

func decodeTicketPage(token string) (*monitor.Ticket, bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) <= 8 {
		return nil, false
	}
	return &monitor.Ticket{CreatedAt: time.Unix(0, int64(binary.BigEndian.Uint64(b))), ID: string(b[8:])}, true
}

// OpenTickets returns copies of the tickets waiting for an admin, newest
// first.
func (db *DB) OpenTickets(ctx context.Context) ([]*monitor.Ticket, error) {
	t, _, err := db.Tickets(ctx, TicketFilter{State: monitor.TicketOpen}, math.MaxInt32, "")
	return t, err
}
