package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// ticketListData is the ticket queue.
type ticketListData struct {
	stateFilter
	Tickets []*pb.Ticket
	listPage
}

// stateFilter filters a list by state and account. Without a state in
// the query the list shows what needs a person; "state=" shows all.
type stateFilter struct {
	State   string
	States  []string
	Account string
}

func filterOf(q url.Values, states []string, fallback string) stateFilter {
	f := stateFilter{States: states, Account: strings.TrimSpace(q.Get("account")), State: fallback}
	if _, given := q["state"]; given {
		f.State = ""
		if s := q.Get("state"); slices.Contains(states, s) {
			f.State = s
		}
	}
	return f
}

func (f stateFilter) query() url.Values {
	return url.Values{"state": {f.State}, "account": {f.Account}}
}

var ticketStates = []string{"open", "approved", "rejected"}

func (c *Console) ticketList(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	d := ticketListData{stateFilter: filterOf(q, ticketStates, "open")}
	state := pb.TicketState(pb.TicketState_value["TICKET_STATE_"+strings.ToUpper(d.State)])
	list, err := call(r, c, sess, pb.TicketService_ListTickets_FullMethodName, c.api.ListTickets,
		&pb.ListTicketsRequest{AccountId: d.Account, State: state, PageSize: pageSize, PageToken: q.Get("page")})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	d.Tickets = list.GetTickets()
	d.listPage = pageLinks(d.query(), q.Get("page"), list.GetNextPageToken())
	c.render(w, sess, http.StatusOK, "tickets", "Tickets", "tickets", d)
}

// ticketData is one ticket's page.
type ticketData struct {
	T *pb.Ticket
	// Approvers are the admins who approved, and Missing how many more
	// must: the two-admin rule as it stands for this ticket.
	Missing int
	// Approved is set when the signed-in admin approved already.
	Approved bool
}

func (c *Console) ticket(w http.ResponseWriter, r *http.Request, sess *session) {
	got, err := call(r, c, sess, pb.TicketService_GetTicket_FullMethodName, c.api.GetTicket, &pb.GetTicketRequest{TicketId: r.PathValue("ticket_id")})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	t := got.GetTicket()
	d := ticketData{T: t, Missing: max(0, int(t.GetRequiredApprovals())-len(t.GetApprovals()))}
	for _, a := range t.GetApprovals() {
		d.Approved = d.Approved || a.GetAdmin() == sess.id.Name
	}
	c.render(w, sess, http.StatusOK, "ticket", "Ticket "+t.GetTicketId(), "tickets", d)
}

// ticketAction comments on, approves or rejects a ticket.
func (c *Console) ticketAction(w http.ResponseWriter, r *http.Request, sess *session) {
	id := r.PathValue("ticket_id")
	text := strings.TrimSpace(r.PostFormValue("note"))
	var err error
	switch r.PathValue("action") {
	case "comment":
		_, err = call(r, c, sess, pb.TicketService_AddTicketComment_FullMethodName, c.api.AddTicketComment, &pb.AddTicketCommentRequest{TicketId: id, Text: text})
	case "approve":
		if err = confirmed(r); err == nil {
			_, err = call(r, c, sess, pb.TicketService_ApproveTicket_FullMethodName, c.api.ApproveTicket, &pb.ApproveTicketRequest{TicketId: id, Note: text})
		}
	case "reject":
		if err = confirmed(r); err == nil {
			_, err = call(r, c, sess, pb.TicketService_RejectTicket_FullMethodName, c.api.RejectTicket, &pb.RejectTicketRequest{TicketId: id, Reason: text})
		}
	default:
		err = errNotFound
	}
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/ui/tickets/"+url.PathEscape(id), http.StatusSeeOther)
}
