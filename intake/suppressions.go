package intake

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// SuppressionRow is one row of a suppression list: an address, why it is
// suppressed and since when (zero when the list does not say). Line is
// the row's line (or object) number, for the summary of rejected rows.
type SuppressionRow struct {
	Line      int
	Recipient string
	Reason    monitor.SuppressionReason
	Since     time.Time
	Note      string
}

// The suppression list formats: dpmon's own (CSV or JSON lines, what
// "dpctl suppression export" writes) and the exports of the providers.
const (
	FormatDpmonCSV            = "dpmon-csv"
	FormatDpmonJSON           = "dpmon-jsonl"
	FormatSESCSV              = "ses-csv"
	FormatSESJSON             = "ses-json"
	FormatSendGridBounces     = "sendgrid-bounces"
	FormatSendGridBlocks      = "sendgrid-blocks"
	FormatSendGridSpamReports = "sendgrid-spam-reports"
	FormatSendGridUnsubscribe = "sendgrid-unsubscribes"
	FormatPostmark            = "postmark"
	FormatMailgunBounces      = "mailgun-bounces"
	FormatMailgunComplaints   = "mailgun-complaints"
	FormatMailgunUnsubscribes = "mailgun-unsubscribes"
)

// SuppressionFormats lists the formats, for help and errors.
var SuppressionFormats = []string{FormatDpmonCSV, FormatDpmonJSON, FormatSESCSV, FormatSESJSON, FormatSendGridBounces,
	FormatSendGridBlocks, FormatSendGridSpamReports, FormatSendGridUnsubscribe, FormatPostmark,
	FormatMailgunBounces, FormatMailgunComplaints, FormatMailgunUnsubscribes}

// csvFormat says how the columns of a provider's CSV make a row.
type csvFormat struct {
	name string
	// columns the header must have (lower case), and none other decides.
	columns   []string
	recipient string
	// reason maps the reason column's value; without a column, every row
	// has fixed.
	reasonColumn string
	reasons      map[string]monitor.SuppressionReason
	fixed        monitor.SuppressionReason
	since        string
	// note is the column (or columns) kept as the row's note.
	note []string
}

// csvFormats, most specific header first: detection takes the first
// whose columns the header has.
var csvFormats = []csvFormat{
	{name: FormatDpmonCSV, columns: []string{"recipient", "reason", "since", "note"}, recipient: "recipient", reasonColumn: "reason", since: "since", note: []string{"note"}},
	{name: FormatPostmark, columns: []string{"emailaddress", "suppressionreason", "createdat"}, recipient: "emailaddress", reasonColumn: "suppressionreason",
		reasons: map[string]monitor.SuppressionReason{"hardbounce": monitor.SuppressedHardBounce, "spamcomplaint": monitor.SuppressedComplaint,
			"manualsuppression": monitor.SuppressedUnsubscribed}, since: "createdat", note: []string{"origin"}},
	{name: FormatSESCSV, columns: []string{"emailaddress", "reason", "lastupdatetime"}, recipient: "emailaddress", reasonColumn: "reason",
		reasons: map[string]monitor.SuppressionReason{"bounce": monitor.SuppressedHardBounce, "complaint": monitor.SuppressedComplaint}, since: "lastupdatetime"},
	{name: FormatMailgunBounces, columns: []string{"address", "code", "error", "created_at"}, recipient: "address", fixed: monitor.SuppressedHardBounce,
		since: "created_at", note: []string{"code", "error"}},
	{name: FormatMailgunUnsubscribes, columns: []string{"address", "tags", "created_at"}, recipient: "address", fixed: monitor.SuppressedUnsubscribed, since: "created_at"},
	{name: FormatMailgunComplaints, columns: []string{"address", "created_at"}, recipient: "address", fixed: monitor.SuppressedComplaint, since: "created_at"},
	{name: FormatSendGridBounces, columns: []string{"email", "created", "reason", "status"}, recipient: "email", fixed: monitor.SuppressedHardBounce,
		since: "created", note: []string{"status", "reason"}},
	// Blocks share the bounces' columns: they are chosen with --format. A block
	// refused the sender, not the address; it is kept as a manual
	// suppression with SendGrid's reason, for an operator to review.
	{name: FormatSendGridBlocks, columns: []string{"email", "created", "reason", "status"}, recipient: "email", fixed: monitor.SuppressedManual,
		since: "created", note: []string{"status", "reason"}},
	{name: FormatSendGridSpamReports, columns: []string{"email", "created", "ip"}, recipient: "email", fixed: monitor.SuppressedComplaint, since: "created"},
	{name: FormatSendGridUnsubscribe, columns: []string{"email", "created"}, recipient: "email", fixed: monitor.SuppressedUnsubscribed, since: "created"},
}

// ErrUnknownFormat is returned when a list's header matches no format.
var ErrUnknownFormat = errors.New("unknown suppression list format")

// SuppressionList reads a suppression list in format, or in the format its
// first line shows when format is empty, and returns the format and its
// rows; a row that cannot be read is yielded with its error, and the rest
// go on.
func SuppressionList(r io.Reader, format string) (string, iter.Seq2[SuppressionRow, error], error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4096)
	head = bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if format == "" {
		switch {
		case bytes.Contains(head, []byte(`"SuppressedDestinationSummaries"`)):
			format = FormatSESJSON
		case bytes.HasPrefix(head, []byte("{")):
			format = FormatDpmonJSON
		}
	}
	switch format {
	case FormatSESJSON:
		return format, sesJSONRows(br), nil
	case FormatDpmonJSON:
		return format, jsonLines(br), nil
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return "", nil, fmt.Errorf("suppression list: reading the header: %w", err)
	}
	columns := map[string]int{}
	for i, h := range header {
		columns[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	// Detection takes the format whose columns the header has, the most
	// of them; two alike (SendGrid's bounces and blocks) need --format.
	var f *csvFormat
	var tied []string
	for i := range csvFormats {
		c := &csvFormats[i]
		has := !slices.ContainsFunc(c.columns, func(col string) bool { _, ok := columns[col]; return !ok })
		if format == c.name {
			if !has {
				return "", nil, fmt.Errorf("suppression list: the header %q lacks the columns of %s (%s)", strings.Join(header, ","), c.name, strings.Join(c.columns, ","))
			}
			f, tied = c, nil
			break
		}
		switch {
		case format != "" || !has:
		case f == nil || len(c.columns) > len(f.columns):
			f, tied = c, []string{c.name}
		case len(c.columns) == len(f.columns):
			tied = append(tied, c.name)
		}
	}
	if len(tied) > 1 {
		return "", nil, fmt.Errorf("%w: the header %q fits %s alike; give --format", ErrUnknownFormat, strings.Join(header, ","), strings.Join(tied, " and "))
	}
	if f == nil {
		if format != "" {
			return "", nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownFormat, format, strings.Join(SuppressionFormats, ", "))
		}
		return "", nil, fmt.Errorf("%w: the header %q is none of %s; give --format", ErrUnknownFormat, strings.Join(header, ","), strings.Join(SuppressionFormats, ", "))
	}
	return f.name, f.rows(cr, columns), nil
}

func (f *csvFormat) rows(cr *csv.Reader, columns map[string]int) iter.Seq2[SuppressionRow, error] {
	return func(yield func(SuppressionRow, error) bool) {
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				// A quoting error spoils one record; anything else, the rest.
				var pe *csv.ParseError
				if !errors.As(err, &pe) {
					yield(SuppressionRow{}, err)
					return
				}
				if !yield(SuppressionRow{Line: pe.StartLine}, err) {
					return
				}
				continue
			}
			line, _ := cr.FieldPos(0)
			col := func(name string) string {
				if i, ok := columns[name]; ok && i < len(rec) {
					return strings.TrimSpace(rec[i])
				}
				return ""
			}
			row := SuppressionRow{Line: line, Recipient: col(f.recipient), Reason: f.fixed}
			var notes []string
			for _, n := range f.note {
				if v := col(n); v != "" {
					notes = append(notes, v)
				}
			}
			row.Note = strings.Join(notes, " ")
			if f.reasonColumn != "" {
				var ok bool
				if f.reasons != nil {
					row.Reason, ok = f.reasons[strings.ToLower(strings.NewReplacer(" ", "", "_", "").Replace(col(f.reasonColumn)))]
				} else {
					row.Reason, ok = reasonByName(col(f.reasonColumn))
				}
				if !ok {
					if !yield(row, fmt.Errorf("line %d: unknown reason %q", line, col(f.reasonColumn))) {
						return
					}
					continue
				}
			}
			if row.Since, err = parseListTime(col(f.since)); err != nil {
				if !yield(row, fmt.Errorf("line %d: %w", line, err)) {
					return
				}
				continue
			}
			if !yield(row, nil) {
				return
			}
		}
	}
}

// reasonByName reads dpmon's names of reasons: "hard_bounce", as export
// writes them, or "hard bounce".
func reasonByName(name string) (monitor.SuppressionReason, bool) {
	// "SUPPRESSION_REASON_HARD_BOUNCE", as the API's JSON writes it, too.
	name = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(name)), "suppression_reason_")
	name = strings.NewReplacer("_", " ", "-", " ").Replace(name)
	for r := monitor.SuppressedHardBounce; r <= monitor.SuppressedSpamTrap; r++ {
		if r.String() == name {
			return r, true
		}
	}
	return 0, false
}

// ReasonName is how lists written by dpmon name a reason: "hard_bounce".
func ReasonName(r monitor.SuppressionReason) string { return strings.ReplaceAll(r.String(), " ", "_") }

// listTimeLayouts are the ways exports write times: RFC 3339 (dpmon, SES,
// Postmark), Mailgun's RFC 1123, SendGrid's and spreadsheets' plain dates.
var listTimeLayouts = []string{time.RFC3339Nano, time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "2006-01-02 15:04:05", "2006-01-02T15:04:05", time.DateOnly}

// parseListTime reads a list's time: a layout above, or Unix seconds.
// Empty is zero: the import's time.
func parseListTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	for _, l := range listTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", s)
}

// jsonRow is a row of dpmon's JSON lines.
type jsonRow struct {
	Recipient string `json:"recipient"`
	Reason    string `json:"reason"`
	Since     string `json:"since"`
	Note      string `json:"note"`
}

func jsonLines(r io.Reader) iter.Seq2[SuppressionRow, error] {
	return func(yield func(SuppressionRow, error) bool) {
		dec := json.NewDecoder(r)
		for line := 1; ; line++ {
			var j jsonRow
			err := dec.Decode(&j)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				// A decoder cannot resync after bad JSON: the rest is lost.
				yield(SuppressionRow{Line: line}, fmt.Errorf("object %d: %w", line, err))
				return
			}
			row := SuppressionRow{Line: line, Recipient: j.Recipient, Note: j.Note}
			var ok bool
			if row.Reason, ok = reasonByName(j.Reason); !ok {
				err = fmt.Errorf("object %d: unknown reason %q", line, j.Reason)
			} else if row.Since, err = parseListTime(j.Since); err != nil {
				err = fmt.Errorf("object %d: %w", line, err)
			}
			if !yield(row, err) {
				return
			}
		}
	}
}

// sesJSONRows reads "aws sesv2 list-suppressed-destinations" output.
func sesJSONRows(r io.Reader) iter.Seq2[SuppressionRow, error] {
	return func(yield func(SuppressionRow, error) bool) {
		var doc struct {
			SuppressedDestinationSummaries []struct {
				EmailAddress   string
				Reason         string
				LastUpdateTime json.RawMessage
			}
		}
		if err := json.NewDecoder(r).Decode(&doc); err != nil {
			yield(SuppressionRow{Line: 1}, fmt.Errorf("SES list: %w", err))
			return
		}
		for i, d := range doc.SuppressedDestinationSummaries {
			row := SuppressionRow{Line: i + 1, Recipient: d.EmailAddress}
			var err error
			switch strings.ToUpper(d.Reason) {
			case "BOUNCE":
				row.Reason = monitor.SuppressedHardBounce
			case "COMPLAINT":
				row.Reason = monitor.SuppressedComplaint
			default:
				err = fmt.Errorf("destination %d: unknown reason %q", i+1, d.Reason)
			}
			if err == nil && len(d.LastUpdateTime) > 0 {
				// The CLI writes a string; the SDKs a number of seconds.
				s := strings.Trim(string(d.LastUpdateTime), `"`)
				if f, ferr := strconv.ParseFloat(s, 64); ferr == nil {
					s = strconv.FormatInt(int64(f), 10)
				}
				if row.Since, err = parseListTime(s); err != nil {
					err = fmt.Errorf("destination %d: %w", i+1, err)
				}
			}
			if !yield(row, err) {
				return
			}
		}
	}
}
