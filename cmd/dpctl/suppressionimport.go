package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/intake"
)

// importBatch is how many rows one ImportSuppressions call carries.
const importBatch = 1000

// importSummary is what an import did.
type importSummary struct {
	Format   string         `json:"format"`
	Rows     int            `json:"rows"`
	Added    int            `json:"added"`
	Already  int            `json:"already"`
	Rejected int            `json:"rejected"`
	Reasons  map[string]int `json:"rejected_by_reason,omitempty"`
	// Examples are the first rejected rows, with their lines.
	Examples   []string `json:"examples,omitempty"`
	Seconds    float64  `json:"seconds"`
	RowsPerSec float64  `json:"rows_per_second"`
}

// runSuppressionImport streams a suppression list into an account:
// dpmon's CSV or JSON lines, or a provider's export, detected from its
// header or named with --format. Importing a list twice changes nothing.
func runSuppressionImport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "suppression import", "ACCOUNT FILE")
	format := fs.String("format", "", "the list's `format` (detected from the header when empty): "+strings.Join(intake.SuppressionFormats, ", "))
	operands, err := fs.parseN(args, 2, 2)
	if err != nil {
		return err
	}
	account, path := operands[0], operands[1]
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	detected, rows, err := intake.SuppressionList(f, *format)
	if err != nil {
		return err
	}
	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	client := dpmonv1.NewSuppressionServiceClient(conn)
	sum := importSummary{Format: detected, Reasons: map[string]int{}}
	reject := func(line int, why string) {
		sum.Rejected++
		sum.Reasons[why]++
		if len(sum.Examples) < 20 {
			sum.Examples = append(sum.Examples, fmt.Sprintf("line %d: %s", line, why))
		}
	}
	start := time.Now()
	var batch []*dpmonv1.ImportedSuppression
	var lines []int
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, e.timeout)
		defer cancel()
		resp, err := client.ImportSuppressions(ctx, &dpmonv1.ImportSuppressionsRequest{AccountId: account, Suppressions: batch, Source: filepath.Base(path)})
		if err != nil {
			return err
		}
		sum.Added += int(resp.GetAdded())
		sum.Already += int(resp.GetAlready())
		for _, r := range resp.GetRejected() {
			field := r.GetField()[strings.IndexByte(r.GetField(), '.')+1:]
			reject(lines[r.GetIndex()], field+" "+r.GetReason())
		}
		batch, lines = batch[:0], lines[:0]
		return nil
	}
	for row, err := range rows {
		sum.Rows++
		if err != nil {
			reject(row.Line, err.Error())
			continue
		}
		s := &dpmonv1.ImportedSuppression{Recipient: row.Recipient, Reason: dpmonv1.SuppressionReason(row.Reason), Note: row.Note}
		if !row.Since.IsZero() {
			s.Since = timestamppb.New(row.Since)
		}
		batch, lines = append(batch, s), append(lines, row.Line)
		if len(batch) == importBatch {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if err := send(); err != nil {
		return err
	}
	sum.Seconds = time.Since(start).Seconds()
	if sum.Seconds > 0 {
		sum.RowsPerSec = float64(sum.Rows) / sum.Seconds
	}
	if e.output == formatJSON {
		return writeJSON(e.stdout, sum)
	}
	w := e.stdout
	fmt.Fprintf(w, "%s (%s): %d rows in %.1fs (%.0f rows/s): %d added, %d already suppressed, %d rejected\n",
		path, sum.Format, sum.Rows, sum.Seconds, sum.RowsPerSec, sum.Added, sum.Already, sum.Rejected)
	reasons := make([]string, 0, len(sum.Reasons))
	for r := range sum.Reasons {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool { return sum.Reasons[reasons[i]] > sum.Reasons[reasons[j]] })
	for _, r := range reasons {
		fmt.Fprintf(w, "  %6d  %s\n", sum.Reasons[r], r)
	}
	for _, ex := range sum.Examples {
		fmt.Fprintf(w, "  e.g. %s\n", ex)
	}
	return nil
}

// writeSuppressionsCSV writes recipients in dpmon's CSV, the format
// "suppression import" reads back.
func writeSuppressionsCSV(w *csv.Writer, recipients []*dpmonv1.Recipient) error {
	for _, r := range recipients {
		since := ""
		if r.GetSince() != nil {
			since = r.GetSince().AsTime().UTC().Format(time.RFC3339)
		}
		reason := strings.ToLower(strings.TrimPrefix(r.GetReason().String(), "SUPPRESSION_REASON_"))
		if err := w.Write([]string{r.GetRecipient(), reason, since, ""}); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
