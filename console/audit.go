package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// auditListData is the audit log, filtered.
type auditListData struct {
	Account, Actor, Since, Until string
	Events                       []*pb.AuditEvent
	listPage
}

func (c *Console) auditList(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	d := auditListData{Account: strings.TrimSpace(q.Get("account")), Actor: strings.TrimSpace(q.Get("actor")),
		Since: q.Get("since"), Until: q.Get("until")}
	req := &pb.ListAuditEventsRequest{AccountId: d.Account, Actor: d.Actor, PageSize: pageSize, PageToken: q.Get("page")}
	// Dates from the form's date fields, whole days in UTC.
	for _, f := range []struct {
		value string
		dst   **timestamppb.Timestamp
		days  int
	}{{d.Since, &req.Since, 0}, {d.Until, &req.Until, 1}} {
		if f.value == "" {
			continue
		}
		day, err := time.Parse(time.DateOnly, f.value)
		if err != nil {
			c.fail(w, r, sess, errBadDate)
			return
		}
		*f.dst = timestamppb.New(day.AddDate(0, 0, f.days))
	}
	list, err := call(r, c, sess, pb.AuditService_ListAuditEvents_FullMethodName, c.api.ListAuditEvents, req)
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	d.Events = list.GetEvents()
	d.listPage = pageLinks(url.Values{"account": {d.Account}, "actor": {d.Actor}, "since": {d.Since}, "until": {d.Until}}, q.Get("page"), list.GetNextPageToken())
	c.render(w, sess, http.StatusOK, "audit", "Audit log", "audit", d)
}
