package console

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// accountData is the account page.
type accountData struct {
	A                *pb.Account
	HardChart        template.HTML
	ComplaintChart   template.HTML
	ScoreChart       template.HTML
	Transitions      []*pb.Transition
	MoreTransitions  bool
	Tickets          []*pb.Ticket
	Suppressions     []*pb.Recipient
	NextSuppressions template.URL
	// Lookup is the address asked about, and what is known of it.
	Lookup      string
	Recipient   *pb.GetRecipientResponse
	LookupError string
	Categories  []option
	// Settings are the values the settings form starts from.
	Settings settingsForm
}

type option struct {
	Value, Label string
}

// accountRows bound the lists of the account page.
const accountPageRows = 20

func (c *Console) account(w http.ResponseWriter, r *http.Request, sess *session) {
	id := r.PathValue("account_id")
	got, err := call(r, c, sess, pb.AccountService_GetAccount_FullMethodName, c.api.GetAccount, &pb.GetAccountRequest{AccountId: id})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	a := got.GetAccount()
	now := c.clock()
	d := accountData{A: a, HardChart: rateChart(a, hardBounceMetric, now), ComplaintChart: rateChart(a, complaintMetric, now),
		Categories: suspensionCategories(), Settings: settingsOf(a)}
	history, err := call(r, c, sess, pb.AccountService_GetReputationHistory_FullMethodName, c.api.GetReputationHistory, &pb.GetReputationHistoryRequest{AccountId: id})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	d.ScoreChart = scoreChart(history.GetDays(), a.GetReputation().GetAlertBelow())
	transitions, err := call(r, c, sess, pb.AccountService_ListAccountTransitions_FullMethodName, c.api.ListAccountTransitions,
		&pb.ListAccountTransitionsRequest{AccountId: id, PageSize: accountPageRows})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	d.Transitions, d.MoreTransitions = transitions.GetTransitions(), transitions.GetNextPageToken() != ""
	tickets, err := call(r, c, sess, pb.TicketService_ListTickets_FullMethodName, c.api.ListTickets, &pb.ListTicketsRequest{AccountId: id, PageSize: accountPageRows})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	d.Tickets = tickets.GetTickets()
	q := r.URL.Query()
	suppressions, err := call(r, c, sess, pb.SuppressionService_ListSuppressions_FullMethodName, c.api.ListSuppressions,
		&pb.ListSuppressionsRequest{AccountId: id, PageSize: accountPageRows, PageToken: q.Get("suppressions")})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	d.Suppressions = suppressions.GetRecipients()
	if next := suppressions.GetNextPageToken(); next != "" {
		d.NextSuppressions = template.URL("?" + url.Values{"suppressions": {next}}.Encode() + "#suppression")
	}
	if d.Lookup = strings.TrimSpace(q.Get("recipient")); d.Lookup != "" {
		rec, err := call(r, c, sess, pb.SuppressionService_GetRecipient_FullMethodName, c.api.GetRecipient, &pb.GetRecipientRequest{AccountId: id, Recipient: d.Lookup})
		switch status.Code(err) {
		case codes.OK:
			d.Recipient = rec
		case codes.NotFound:
			d.LookupError = "dpmon has no record of this address for this account: it may be mailed."
		case codes.InvalidArgument:
			d.LookupError = status.Convert(err).Message()
		default:
			c.fail(w, r, sess, err)
			return
		}
	}
	c.render(w, sess, http.StatusOK, "account", a.GetAccountId(), "accounts", d)
}

func suspensionCategories() []option {
	var out []option
	for n := int32(1); ; n++ {
		name, ok := pb.SuspensionCategory_name[n]
		if !ok {
			return out
		}
		out = append(out, option{Value: name, Label: enumLabel(pb.SuspensionCategory(n))})
	}
}

// settingsForm are an account's settings as the form shows them:
// thresholds in percent, empty where the global policy applies.
type settingsForm struct {
	DisplayName, AdminEmails                                           string
	HardBounceWarn, HardBounceSuspend, ComplaintWarn, ComplaintSuspend string
	PerDay, PerSecond                                                  string
}

func settingsOf(a *pb.Account) settingsForm {
	o := a.GetPolicyOverrides()
	pctOf := func(v *float64) string {
		if v == nil {
			return ""
		}
		// 12 digits: 0.007 reads 0.7, not 0.7000000000000001.
		return strconv.FormatFloat(*v*100, 'g', 12, 64)
	}
	return settingsForm{
		DisplayName: a.GetDisplayName(), AdminEmails: strings.Join(a.GetAdminEmails(), ", "),
		HardBounceWarn: pctOf(o.HardBounceWarn), HardBounceSuspend: pctOf(o.HardBounceSuspend),
		ComplaintWarn: pctOf(o.ComplaintWarn), ComplaintSuspend: pctOf(o.ComplaintSuspend),
		PerDay: strconv.FormatUint(a.GetQuota().GetMaxSendsPerDay(), 10), PerSecond: strconv.FormatUint(uint64(a.GetQuota().GetMaxSendsPerSecond()), 10),
	}
}

// accountAction carries out a form of the account page through the API
// method it stands for.
func (c *Console) accountAction(w http.ResponseWriter, r *http.Request, sess *session) {
	id := r.PathValue("account_id")
	back := "/ui/accounts/" + url.PathEscape(id)
	form := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	var err error
	switch r.PathValue("action") {
	case "acknowledge":
		_, err = call(r, c, sess, pb.AccountService_AcknowledgeWarning_FullMethodName, c.api.AcknowledgeWarning,
			&pb.AcknowledgeWarningRequest{AccountId: id, Note: form("note")})
	case "ticket":
		var t *pb.CreateTicketResponse
		t, err = call(r, c, sess, pb.TicketService_CreateTicket_FullMethodName, c.api.CreateTicket, &pb.CreateTicketRequest{
			AccountId: id, Description: form("description"), Sender: form("sender"),
			Checklist: &pb.Checklist{
				BouncedAddressesRemoved: r.PostFormValue("bounced_addresses_removed") == "yes",
				ListSource:              form("list_source"), OptInMethod: form("opt_in_method"),
				ComplaintHandling: form("complaint_handling"), Authentication: form("authentication"),
			},
		})
		if err == nil {
			back = "/ui/tickets/" + url.PathEscape(t.GetTicket().GetTicketId())
		}
	case "suspend":
		if err = confirmed(r); err == nil {
			_, err = call(r, c, sess, pb.AccountService_SuspendAccount_FullMethodName, c.api.SuspendAccount, &pb.SuspendAccountRequest{
				AccountId: id, Category: pb.SuspensionCategory(pb.SuspensionCategory_value[form("category")]), Note: form("note")})
		}
	case "unblock":
		if err = confirmed(r); err == nil {
			_, err = call(r, c, sess, pb.AccountService_UnblockSender_FullMethodName, c.api.UnblockSender,
				&pb.UnblockSenderRequest{AccountId: id, Sender: form("sender"), Note: form("note")})
		}
	case "settings":
		if err = confirmed(r); err == nil {
			err = c.updateSettings(r, sess, id)
		}
	case "suppress":
		_, err = call(r, c, sess, pb.SuppressionService_AddSuppression_FullMethodName, c.api.AddSuppression,
			&pb.AddSuppressionRequest{AccountId: id, Recipient: form("recipient"), Note: form("note")})
		back += "?" + url.Values{"recipient": {form("recipient")}}.Encode()
	case "unsuppress":
		if err = confirmed(r); err == nil {
			_, err = call(r, c, sess, pb.SuppressionService_DeleteSuppression_FullMethodName, c.api.DeleteSuppression,
				&pb.DeleteSuppressionRequest{AccountId: id, Recipient: form("recipient"), Note: form("note")})
		}
		back += "?" + url.Values{"recipient": {form("recipient")}}.Encode()
	default:
		err = errNotFound
	}
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// confirmed checks the box every admin action and irreversible form has:
// a form posted by a stray click or a script that does not know of it
// changes nothing.
func confirmed(r *http.Request) error {
	if r.PostFormValue("confirm") != "yes" {
		return status.Error(codes.FailedPrecondition, "tick the box to confirm, then send the form again")
	}
	return nil
}

// thresholdField is a threshold of the settings form and the override it
// sets.
type thresholdField struct {
	field string
	dst   func(*pb.PolicyOverrides) **float64
}

var thresholdFields = []thresholdField{
	{"hard_bounce_warn", func(o *pb.PolicyOverrides) **float64 { return &o.HardBounceWarn }},
	{"hard_bounce_suspend", func(o *pb.PolicyOverrides) **float64 { return &o.HardBounceSuspend }},
	{"complaint_warn", func(o *pb.PolicyOverrides) **float64 { return &o.ComplaintWarn }},
	{"complaint_suspend", func(o *pb.PolicyOverrides) **float64 { return &o.ComplaintSuspend }},
}

// updateSettings replaces the settings the form changed: each field
// comes with the value the page showed (orig_NAME), and only a field that
// differs from it goes into the update, so that a change made elsewhere
// meanwhile is not overwritten with what the page showed, and an override
// the form does not show is kept.
func (c *Console) updateSettings(r *http.Request, sess *session, id string) error {
	changed := func(field string) bool {
		return strings.TrimSpace(r.PostFormValue(field)) != strings.TrimSpace(r.PostFormValue("orig_"+field))
	}
	req := &pb.UpdateAccountRequest{AccountId: id, UpdateMask: &fieldmaskpb.FieldMask{}}
	mask := func(path string) { req.UpdateMask.Paths = append(req.UpdateMask.Paths, path) }
	var bad []string
	if changed("display_name") {
		req.DisplayName = strings.TrimSpace(r.PostFormValue("display_name"))
		mask("display_name")
	}
	if changed("admin_emails") {
		for e := range strings.FieldsFuncSeq(r.PostFormValue("admin_emails"), func(r rune) bool { return r == ',' || r == '\n' || r == ' ' || r == '\r' }) {
			req.AdminEmails = append(req.AdminEmails, e)
		}
		mask("admin_emails")
	}
	if slices.ContainsFunc(thresholdFields, func(t thresholdField) bool { return changed(t.field) }) {
		// The overrides are one field of the API: the others are kept as
		// they are now.
		got, err := call(r, c, sess, pb.AccountService_GetAccount_FullMethodName, c.api.GetAccount, &pb.GetAccountRequest{AccountId: id})
		if err != nil {
			return err
		}
		req.PolicyOverrides = proto.Clone(got.GetAccount().GetPolicyOverrides()).(*pb.PolicyOverrides)
		if req.PolicyOverrides == nil {
			req.PolicyOverrides = &pb.PolicyOverrides{}
		}
		for _, t := range thresholdFields {
			if !changed(t.field) {
				continue
			}
			dst := t.dst(req.PolicyOverrides)
			s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(r.PostFormValue(t.field)), "%"))
			if s == "" {
				*dst = nil // the global value again
				continue
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				bad = append(bad, t.field)
				continue
			}
			v /= 100
			*dst = &v
		}
		mask("policy_overrides")
	}
	count := func(field string, bits int) *uint64 {
		if !changed(field) {
			return nil
		}
		mask(field)
		v, err := strconv.ParseUint(strings.ReplaceAll(strings.TrimSpace(r.PostFormValue(field)), ",", ""), 10, bits)
		if err != nil && strings.TrimSpace(r.PostFormValue(field)) != "" {
			bad = append(bad, field)
		}
		return &v
	}
	req.MaxSendsPerDay = count("max_sends_per_day", 64)
	if v := count("max_sends_per_second", 32); v != nil {
		req.MaxSendsPerSecond = proto.Uint32(uint32(*v))
	}
	if len(bad) > 0 {
		return status.Errorf(codes.InvalidArgument, "%s: not a number", strings.Join(bad, ", "))
	}
	if len(req.UpdateMask.Paths) == 0 {
		return nil // nothing changed
	}
	_, err := call(r, c, sess, pb.AccountService_UpdateAccount_FullMethodName, c.api.UpdateAccount, req)
	return err
}
