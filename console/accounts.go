package console

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// accountListData is the accounts page: a page of the list, filtered on
// the server, with the link to the next.
type accountListData struct {
	Query  string
	Phase  string
	Phases []string
	Rows   []accountRow
	listPage
}

// phases are the names the phase filter takes.
var phases = []string{"healthy", "warning", "suspended", "probation"}

// phaseOf returns the API's phase for its name in a filter.
func phaseOf(name string) pb.Phase {
	return pb.Phase(pb.Phase_value["PHASE_"+strings.ToUpper(name)])
}

// listPage links a list page to the first and the next: Base is the
// filters' query, Next the query of the next page (empty on the last).
// Both are built by url.Values, so the templates may take them as URLs.
type listPage struct {
	Base, Next template.URL
	First      bool
}

func pageLinks(filters url.Values, page, next string) listPage {
	l := listPage{Base: template.URL("?" + filters.Encode()), First: page == ""}
	if next != "" {
		filters.Set("page", next)
		l.Next = template.URL("?" + filters.Encode())
	}
	return l
}

func (c *Console) accountList(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	d := accountListData{Query: strings.TrimSpace(q.Get("q")), Phases: phases}
	phase := phaseOf(q.Get("phase"))
	if phase != pb.Phase_PHASE_UNSPECIFIED {
		d.Phase = q.Get("phase")
	}
	list, err := call(r, c, sess, pb.AccountService_ListAccounts_FullMethodName, c.api.ListAccounts,
		&pb.ListAccountsRequest{Phase: phase, IdPrefix: d.Query, PageSize: pageSize, PageToken: q.Get("page"), IncludeBuckets: true})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	d.Rows = accountRows(list.GetAccounts(), c.clock())
	d.listPage = pageLinks(url.Values{"q": {d.Query}, "phase": {d.Phase}}, q.Get("page"), list.GetNextPageToken())
	c.render(w, sess, http.StatusOK, "accounts", "Accounts", "accounts", d)
}
