package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/internal/eventpb"
	"github.com/dpmon/dpmon/monitor"
)

// replayWindow is how much of the log before the place a restart resumes
// at is read again for context (see follower.replay): an hour of a busy
// server's log, far more than a message takes from queue to delivery.
const replayWindow = 64 << 20

// maxListed bounds the lines a followSummary lists, since a follower may
// run for months; the counts stay exact.
const maxListed = 100

// lineParser reads one line of a log (see intake.PostfixReader.Line).
type lineParser func(line string, now time.Time) (e monitor.Event, ok bool, err error)

// logFormat is a log follow-log reads.
type logFormat struct {
	accountFrom string // the default of --account-from
	// mappable says whether --account-from may name field.
	mappable func(field string) bool
	parser   func(m intake.Mapping, deferred bool) lineParser
	// context says whether a line's event depends on earlier lines, which
	// are then replayed after a restart.
	context bool
}

var logFormats = map[string]logFormat{
	"postfix": {
		accountFrom: "sender_domain",
		mappable: func(f string) bool {
			name, header := strings.CutPrefix(f, "header.")
			return f == "sender_domain" || f == "sasl_username" || header && name != ""
		},
		parser: func(m intake.Mapping, deferred bool) lineParser {
			return intake.NewPostfixReader(intake.PostfixOptions{Mapping: m, Deferred: deferred}).Line
		},
		context: true,
	},
	"kumomta": {
		accountFrom: "tenant",
		mappable: func(f string) bool {
			key, meta := strings.CutPrefix(f, "meta.")
			return f == "tenant" || f == "campaign" || meta && key != ""
		},
		parser: func(m intake.Mapping, deferred bool) lineParser {
			o := intake.KumoMTAOptions{Mapping: m, Deferred: deferred}
			return func(line string, now time.Time) (monitor.Event, bool, error) { return intake.KumoMTALine(line, o, now) }
		},
	},
}

// followSummary is what "dpctl follow-log" reports; with -o json it is
// printed as is. Every line read is counted once: as the source of an
// event, unmapped, skipped (no event in it) or malformed.
type followSummary struct {
	Lines          int           `json:"lines"`
	Events         int           `json:"events"`
	Accepted       int           `json:"accepted"`
	Duplicates     int           `json:"duplicates"`
	Rejected       int           `json:"rejected"`
	Unmapped       int           `json:"unmapped"`
	Skipped        int           `json:"skipped"`
	Malformed      int           `json:"malformed"`
	Rejections     []lineProblem `json:"rejections"`
	MalformedLines []lineProblem `json:"malformed_lines"`
}

// lineProblem is a line of the log that made no event dpmon took.
type lineProblem struct {
	File   string `json:"file"`
	Line   int64  `json:"line"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// runFollowLog implements "dpctl follow-log --format F FILE".
func runFollowLog(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "follow-log", "--format postfix|kumomta FILE")
	format := fs.String("format", "", "the log's format: postfix (syslog lines) or kumomta (JSON log records)")
	state := fs.String("state", "", "`file` that keeps the place reached between runs (default FILE.dpmon-state)")
	accountFrom := fs.String("account-from", "", "what names an event's account: postfix sender_domain (default), sasl_username or header.NAME\n(a header header_checks logs with INFO); kumomta tenant (default), campaign or meta.KEY")
	account := fs.String("default-account", "", "the account of events the mapping names none for")
	deferred := fs.Bool("deferred", false, "count a deferral (postfix) or a TransientFailure (kumomta) as a soft bounce")
	poll := fs.Duration("poll", time.Second, "how often to look for new lines and for a rotation")
	grace := fs.Duration("rotate-grace", 5*time.Second, "how long a rotated log must go unwritten before it is left for the new one\n(its writer keeps it open until told to reopen the path)")
	once := fs.Bool("once", false, "read to the end of the log and exit (from cron) instead of following it")
	inflight := fs.Int("inflight", 4, "batches sent before their answer arrives")
	giveUp := fs.Duration("give-up", 5*time.Minute, "stop resending when no batch has been acknowledged for this long")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	lf, known := logFormats[*format]
	switch {
	case !known:
		return fs.usageErr("--format must be postfix or kumomta")
	case *accountFrom != "" && !lf.mappable(*accountFrom):
		return fs.usageErr(fmt.Sprintf("--account-from %q: not a field of %s logs", *accountFrom, *format))
	case *account != "" && monitor.CheckID(*account) != "":
		return fs.usageErr("--default-account " + monitor.CheckID(*account))
	case *poll <= 0:
		return fs.usageErr("--poll must be positive")
	case *grace < 0:
		return fs.usageErr("--rotate-grace must not be negative")
	case *inflight < 1:
		return fs.usageErr("--inflight must be at least 1")
	}
	path := operands[0]
	*state = cmp.Or(*state, path+".dpmon-state")
	saved, err := loadState(*state)
	if err != nil {
		return err
	}
	f, err := openFollower(path, saved, *grace, e.stderr)
	if err != nil {
		return err
	}
	defer f.close()
	parse := lf.parser(intake.Mapping{From: cmp.Or(*accountFrom, lf.accountFrom), Default: *account}, *deferred)
	if lf.context && f.offset > 0 {
		f.replay(replayWindow, func(line []byte) { parse(string(line), time.Now()) })
	}
	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()

	src := &logSource{ctx: ctx, f: f, parse: parse, state: *state, frontier: f.pos(),
		sum: followSummary{Rejections: []lineProblem{}, MalformedLines: []lineProblem{}}}
	if saved != nil {
		src.saved = *saved
	}
	// On a signal reading stops at once, and the batches in flight have
	// --timeout to be acknowledged.
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(e.timeout, cancel) })
	defer stop()
	client := dpmonv1.NewEventServiceClient(conn)
	err = src.follow(*once, *poll, func() error {
		_, err := ingest(sendCtx, client, src, readBatch, *inflight, *giveUp, e.stderr)
		return err
	})
	sum := src.summary()
	if werr := printFollowSummary(e, &sum); err == nil {
		err = werr
	}
	return err
}

// logSource is the eventSource of follow-log: the events of the lines of
// a followed log, each with its line's number in this run as position,
// and io.EOF whenever no complete line follows yet, which ends a run of
// ingest. The place reached is saved only past lines whose events the
// server acknowledged: a restart may send an event again, which dpmon
// counts as a duplicate, but never skips one.
type logSource struct {
	ctx   context.Context // reading stops when it is done
	f     *follower
	parse lineParser
	state string // the state file

	next    *dpmonv1.Event // read and not yet given to ingest
	nextPos int

	// mu guards what follows: acknowledgements arrive on the stream's
	// receiving goroutine.
	mu       sync.Mutex
	sum      followSummary
	pending  []pendingLine // lines whose event is not acknowledged, oldest first
	frontier logPos        // after the last line read
	saved    logPos        // in the state file
	saveErr  error
}

// pendingLine is a line whose event is not yet acknowledged.
type pendingLine struct {
	pos    int
	name   string
	line   int64
	before logPos
}

// follow calls send, which ingests s, whenever a line with an event was
// read, and looks for more every poll until s.ctx is done or, once, until
// the end of the log. A run of ingest sends what there is and ends, so
// that time spent waiting for lines is not taken for a server that does
// not answer.
func (s *logSource) follow(once bool, poll time.Duration, send func() error) error {
	for s.ctx.Err() == nil {
		more, err := s.ready()
		if err == nil && more {
			err = send()
		}
		if err != nil || !more && once {
			return err
		}
		if !more {
			t := time.NewTimer(poll)
			select {
			case <-s.ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	return nil
}

func (s *logSource) Read() (*dpmonv1.Event, int, error) {
	if s.ctx.Err() != nil {
		return nil, 0, io.EOF // what was sent is still acknowledged
	}
	more, err := s.ready()
	if err != nil || !more {
		return nil, 0, cmp.Or(err, io.EOF)
	}
	ev := s.next
	s.next = nil
	return ev, s.nextPos, nil
}

// ready reads lines until one makes an event, and says whether there is
// one; at the end of the log it saves the place reached, if no event
// read waits for its acknowledgement.
func (s *logSource) ready() (bool, error) {
	for s.next == nil {
		l, err := s.f.next()
		if errors.Is(err, errIdle) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return false, cmp.Or(s.saveErr, s.commit())
		}
		if err != nil {
			return false, err
		}
		s.take(l)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return true, s.saveErr
}

// take reads the line l.
func (s *logSource) take(l logLine) {
	var (
		e   monitor.Event
		ok  bool
		err = fmt.Errorf("longer than %d bytes", maxLineLen)
	)
	if !l.long {
		e, ok, err = s.parse(string(l.text), time.Now())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sum.Lines++
	s.frontier = l.after
	switch {
	case err != nil:
		s.sum.Malformed++
		note(&s.sum.MalformedLines, lineProblem{File: l.name, Line: l.after.Line, Reason: err.Error()})
	case !ok:
		s.sum.Skipped++
	case e.AccountID == "":
		s.sum.Unmapped++
	default:
		s.sum.Events++
		s.pending = append(s.pending, pendingLine{pos: s.sum.Lines, name: l.name, line: l.after.Line, before: l.before})
		s.next, s.nextPos = eventpb.From(e), s.sum.Lines
	}
}

// acked counts the server's answer to the batch f and saves the place
// reached.
func (s *logSource) acked(f flight, resp *dpmonv1.StreamEventsResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sum.Accepted += int(resp.GetAccepted())
	s.sum.Duplicates += int(resp.GetDuplicates())
	s.sum.Rejected += len(resp.GetRejected())
	for _, r := range resp.GetRejected() {
		p := lineProblem{Field: r.GetField(), Reason: r.GetReason()}
		if i := int(r.GetIndex()); i < len(f.lines) && len(s.sum.Rejections) < maxListed {
			// pending is in the order lines were read.
			pos := f.lines[i]
			if j, found := slices.BinarySearchFunc(s.pending, pos, func(l pendingLine, pos int) int { return cmp.Compare(l.pos, pos) }); found {
				p.File, p.Line = s.pending[j].name, s.pending[j].line
			}
		}
		note(&s.sum.Rejections, p)
	}
	// Batches are acknowledged in the order they were read: each
	// acknowledges every line up to its last.
	last := 0
	for _, pos := range f.lines {
		last = max(last, pos)
	}
	done := 0
	for done < len(s.pending) && s.pending[done].pos <= last {
		done++
	}
	s.pending = s.pending[done:]
	if err := s.commit(); err != nil && s.saveErr == nil {
		s.saveErr = err
	}
}

// commit saves the place up to which every line read is done with: the
// start of the oldest line whose event waits for its acknowledgement, or
// the end of the last line read. s.mu is held.
func (s *logSource) commit() error {
	at := s.frontier
	if len(s.pending) > 0 {
		at = s.pending[0].before
	}
	if at == s.saved {
		return nil
	}
	if err := saveState(s.state, followState{Version: 1, Path: s.f.path, logPos: at}); err != nil {
		return err
	}
	s.saved = at
	return nil
}

// summary returns a copy of what was counted so far.
func (s *logSource) summary() followSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum
}

// note lists p, unless maxListed lines are listed already.
func note(list *[]lineProblem, p lineProblem) {
	if len(*list) < maxListed {
		*list = append(*list, p)
	}
}

// printFollowSummary prints sum as a table or as JSON.
func printFollowSummary(e *env, sum *followSummary) error {
	if e.output == formatJSON {
		return writeJSON(e.stdout, sum)
	}
	tw := newTable(e.stdout)
	for _, row := range []struct {
		name string
		n    int
	}{{"lines", sum.Lines}, {"events", sum.Events}, {"accepted", sum.Accepted}, {"duplicates", sum.Duplicates}, {"rejected", sum.Rejected},
		{"unmapped", sum.Unmapped}, {"skipped", sum.Skipped}, {"malformed", sum.Malformed}} {
		fmt.Fprintf(tw, "%s\t%d\n", row.name, row.n)
	}
	for _, list := range []struct {
		title string
		lines []lineProblem
	}{{"REJECTED", sum.Rejections}, {"MALFORMED", sum.MalformedLines}} {
		if len(list.lines) > 0 {
			fmt.Fprintf(tw, "\n%s\tLINE\tFIELD\tREASON\n", list.title)
			for _, p := range list.lines {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", cell(p.File), p.Line, cell(p.Field), cell(p.Reason))
			}
		}
	}
	return tw.Flush()
}
