package console

import (
	"html/template"
	"net/http"
	"time"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
)

// overviewData is the overview: the platform's figures for an operator,
// the own accounts for a sender.
type overviewData struct {
	Phases          []phaseCount
	Accounts        int
	EventsPerSecond string
	OpenTickets     []*pb.Ticket
	MoreTickets     bool
	Failed          []*pb.Notification
	MoreFailed      bool
	// Mine are a sender's accounts, with their banners.
	Mine     []accountRow
	MoreMine bool
}

type phaseCount struct {
	Phase string
	Count int
}

// overviewRows bounds the tickets, notifications and accounts listed.
const overviewRows = 10

func (c *Console) overview(w http.ResponseWriter, r *http.Request, sess *session) {
	var d overviewData
	v := view{id: sess.id, Signed: true}
	if v.Operator() {
		counts := c.phases()
		for _, p := range []monitor.Phase{monitor.PhaseHealthy, monitor.PhaseWarning, monitor.PhaseSuspended, monitor.PhaseProbation} {
			d.Phases = append(d.Phases, phaseCount{Phase: p.String(), Count: counts[p]})
			d.Accounts += counts[p]
		}
		if perSecond, ok := c.rate.PerSecond(); ok {
			d.EventsPerSecond = number(int64(perSecond + 0.5))
		}
		failed, err := call(r, c, sess, pb.NotificationService_ListNotifications_FullMethodName, c.api.ListNotifications,
			&pb.ListNotificationsRequest{State: pb.NotificationState_NOTIFICATION_STATE_FAILED, PageSize: overviewRows})
		if err != nil {
			c.fail(w, r, sess, err)
			return
		}
		d.Failed, d.MoreFailed = failed.GetNotifications(), failed.GetNextPageToken() != ""
	} else {
		mine, err := call(r, c, sess, pb.AccountService_ListAccounts_FullMethodName, c.api.ListAccounts, &pb.ListAccountsRequest{PageSize: overviewRows, IncludeBuckets: true})
		if err != nil {
			c.fail(w, r, sess, err)
			return
		}
		d.Mine, d.MoreMine = accountRows(mine.GetAccounts(), c.clock()), mine.GetNextPageToken() != ""
	}
	tickets, err := call(r, c, sess, pb.TicketService_ListTickets_FullMethodName, c.api.ListTickets,
		&pb.ListTicketsRequest{State: pb.TicketState_TICKET_STATE_OPEN, PageSize: overviewRows})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	d.OpenTickets, d.MoreTickets = tickets.GetTickets(), tickets.GetNextPageToken() != ""
	c.render(w, sess, http.StatusOK, "overview", "Overview", "overview", d)
}

// accountRow is one account in a list: its figures over the shortest
// window and its sparkline.
type accountRow struct {
	*pb.Account
	Short *pb.WindowStats
	Spark template.HTML
}

func accountRows(accounts []*pb.Account, now time.Time) []accountRow {
	rows := make([]accountRow, 0, len(accounts))
	for _, a := range accounts {
		row := accountRow{Account: a, Spark: sparkline(a, now)}
		if ws := a.GetWindows(); len(ws) > 0 {
			row.Short = ws[0]
		}
		rows = append(rows, row)
	}
	return rows
}
