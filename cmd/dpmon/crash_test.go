package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/internal/testnet"
	"github.com/dpmon/dpmon/store"
)

// childEnv makes the test binary run dpmon itself: the crash test starts
// it as a separate process so that it can kill it without any shutdown.
// childArgs carries its command-line arguments, one per line.
const (
	childEnv  = "DPMON_TEST_RUN_SERVER"
	childArgs = "DPMON_TEST_ARGS"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		var args []string
		if a := os.Getenv(childArgs); a != "" {
			args = strings.Split(a, "\n")
		}
		if err := run(ctx, args, os.Getenv, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "dpmon:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if built.path != "" {
		os.RemoveAll(filepath.Dir(built.path))
	}
	os.Exit(code)
}

// startServer runs dpmon in a child process on dataDir with args and
// returns its address and the process.
func startServer(t *testing.T, dataDir string, args ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "DPMON_LISTEN=127.0.0.1:0", "DPMON_DATA_DIR="+dataDir,
		childArgs+"="+strings.Join(args, "\n"))
	return startProcess(t, cmd), cmd
}

// startProcess starts a dpmon process, kills it when the test ends, and
// returns the address it serves on.
func startProcess(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return waitForAddr(t, stderr)
}

// TestStopDuringStreamLosesNothingAcknowledged streams batches into a
// server process, stops it mid-stream — with SIGKILL, no shutdown at all, or
// with SIGTERM, a graceful one — restarts it on the same data and resends
// every batch: each acknowledged batch must come back as all duplicates, and
// each account must count every distinct event exactly once.
func TestStopDuringStreamLosesNothingAcknowledged(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { stopDuringStream(t, sig, nil) })
	}
	// Saving the accounts' counts every few hundred events, nearly every
	// commit the kill can land in is a checkpoint's.
	t.Run("SIGKILL while checkpointing", func(t *testing.T) {
		stopDuringStream(t, syscall.SIGKILL, nil, "--config", writeFile(t, "events:\n  checkpoint_events: 300\n"))
	})
	// Saving the dedupe index every second takes most of each second (a
	// commit per shard): once one save is done, the kill lands in the
	// next, and the start reads the saved file and indexes the records
	// after it from the log.
	t.Run("SIGKILL while saving the index", func(t *testing.T) {
		saved := func(dataDir string) bool {
			_, err := os.Stat(filepath.Join(dataDir, store.IndexFileName))
			return err == nil
		}
		stopDuringStream(t, syscall.SIGKILL, saved, "--config", writeFile(t, "schedule:\n  index: \"@every 1s\"\n"))
	})
}

// writeFile writes text to a new file in a temp dir and returns its path.
func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// stopDuringStream streams into a server on a new data dir and sends it
// sig once 40 batches are acknowledged and ready, if not nil, reports
// true of the data dir.
func stopDuringStream(t *testing.T, sig syscall.Signal, ready func(dataDir string) bool, args ...string) {
	dataDir := t.TempDir()
	addr, proc := startServer(t, dataDir, args...)
	conn := dial(t, addr)
	stream, err := pb.NewEventServiceClient(conn).StreamEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	const accounts, batchSize = 5, 500
	now := time.Now()
	makeBatch := func(b int) *pb.StreamEventsRequest {
		req := &pb.StreamEventsRequest{BatchId: fmt.Sprint(b)}
		for i := range batchSize {
			req.Events = append(req.Events, &pb.Event{
				EventId:    fmt.Sprintf("b%d-e%d", b, i),
				AccountId:  fmt.Sprintf("acct-%d", i%accounts),
				Type:       pb.EventType_EVENT_TYPE_SEND,
				OccurredAt: timestamppb.New(now),
				Recipient:  fmt.Sprintf("r%d@example.com", i),
			})
		}
		return req
	}

	var mu sync.Mutex
	var sent []*pb.StreamEventsRequest
	acked := map[string]bool{}
	// Send until the stream breaks; the signal comes while batches are in
	// flight.
	go func() {
		for b := 0; ; b++ {
			req := makeBatch(b)
			mu.Lock()
			sent = append(sent, req)
			mu.Unlock()
			if err := stream.Send(req); err != nil {
				return
			}
		}
	}()
	var streamErr error
	signalled := false
	for {
		resp, err := stream.Recv()
		if err != nil {
			streamErr = err // the server is gone or going
			break
		}
		if resp.GetAccepted()+resp.GetDuplicates() != batchSize {
			t.Errorf("batch %s: %v", resp.GetBatchId(), resp)
		}
		acked[resp.GetBatchId()] = true
		if !signalled && len(acked) >= 40 && (ready == nil || ready(dataDir)) {
			signalled = true
			if err := proc.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitErr := proc.Wait()
	if sig == syscall.SIGTERM {
		// A graceful stop answers what it began, ends the stream so the
		// client reconnects, and exits cleanly.
		if status.Code(streamErr) != codes.Unavailable {
			t.Errorf("stream ended with %v, want UNAVAILABLE", streamErr)
		}
		if waitErr != nil {
			t.Errorf("server exited with %v after SIGTERM, want a clean exit", waitErr)
		}
	}
	mu.Lock()
	batches := append([]*pb.StreamEventsRequest(nil), sent...)
	mu.Unlock()
	if len(acked) < 40 {
		t.Fatalf("only %d batches acknowledged before the stop", len(acked))
	}
	t.Logf("stopped after %d acknowledged of %d sent batches", len(acked), len(batches))

	addr, _ = startServer(t, dataDir, args...)
	conn = dial(t, addr)
	events := pb.NewEventServiceClient(conn)
	ctx := context.Background()
	for _, req := range batches {
		resp, err := events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: req.GetEvents()})
		if err != nil {
			t.Fatal(err)
		}
		if acked[req.GetBatchId()] && resp.GetDuplicates() != batchSize {
			t.Errorf("acknowledged batch %s came back with %d duplicates, want %d", req.GetBatchId(), resp.GetDuplicates(), batchSize)
		}
		if resp.GetAccepted()+resp.GetDuplicates() != batchSize {
			t.Errorf("batch %s: %v", req.GetBatchId(), resp)
		}
	}
	accountsClient := pb.NewAccountServiceClient(conn)
	for a := range accounts {
		resp, err := accountsClient.GetAccount(ctx, &pb.GetAccountRequest{AccountId: fmt.Sprintf("acct-%d", a)})
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(len(batches) * batchSize / accounts)
		if got := resp.GetAccount().GetWindows()[0].GetSends(); got != want {
			t.Errorf("acct-%d counts %d sends, want each of the %d distinct events once", a, got, want)
		}
	}
}

// TestKillDuringTheTailReplay kills a server that has a long tail of events
// after its last checkpoint, then kills it again and again while a start
// replays that tail: the start that finishes counts every acknowledged
// event exactly once and still knows every id.
func TestKillDuringTheTailReplay(t *testing.T) {
	dataDir := t.TempDir()
	cfg := writeFile(t, "events:\n  checkpoint_events: 100000000\n  checkpoint_interval: 24h\n")
	addr, proc := startServer(t, dataDir, "--config", cfg)
	ctx := context.Background()
	events := pb.NewEventServiceClient(dial(t, addr))

	const accounts, batchSize, batches = 5, 1000, 120
	now := time.Now()
	var sent []*pb.IngestEventsRequest
	for b := range batches {
		req := &pb.IngestEventsRequest{}
		for i := range batchSize {
			req.Events = append(req.Events, &pb.Event{
				EventId: fmt.Sprintf("b%d-e%d", b, i), AccountId: fmt.Sprintf("acct-%d", i%accounts),
				Type: pb.EventType_EVENT_TYPE_SEND, OccurredAt: timestamppb.New(now), Recipient: fmt.Sprintf("r%d@example.com", i),
			})
		}
		if resp, err := events.IngestEvents(ctx, req); err != nil || resp.GetAccepted() != batchSize {
			t.Fatalf("batch %d: %v, %v", b, resp, err)
		}
		sent = append(sent, req)
	}
	_ = proc.Process.Kill()
	_ = proc.Wait()

	for _, delay := range []time.Duration{0, 30 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		_, p := startServer(t, dataDir, "--config", cfg)
		time.Sleep(delay)
		_ = p.Process.Kill()
		_ = p.Wait()
	}

	addr, _ = startServer(t, dataDir, "--config", cfg)
	conn := dial(t, addr)
	events = pb.NewEventServiceClient(conn)
	for b, req := range sent {
		resp, err := events.IngestEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetDuplicates() != batchSize {
			t.Fatalf("acknowledged batch %d came back with %d duplicates, want %d", b, resp.GetDuplicates(), batchSize)
		}
	}
	accountsClient := pb.NewAccountServiceClient(conn)
	for a := range accounts {
		resp, err := accountsClient.GetAccount(ctx, &pb.GetAccountRequest{AccountId: fmt.Sprintf("acct-%d", a)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resp.GetAccount().GetWindows()[0].GetSends(), uint64(batches*batchSize/accounts); got != want {
			t.Errorf("acct-%d counts %d sends, want %d", a, got, want)
		}
	}
}

// TestKillWhileMergingRecipients streams hard bounces, each to an address of
// its own at a provider's domain (where one bounce suppresses), into a
// server whose recipient journal is frozen every 20,000 changes and merged
// over several commits (see store/overlay.go), and kills it as its
// metrics show a merge under way, until a kill has left the journals of
// two generations on disk: the merge's and the current one. The file must
// be sound, and after a restart every address of an acknowledged batch
// must be suppressed, and every acknowledged batch a duplicate.
func TestKillWhileMergingRecipients(t *testing.T) {
	dataDir := t.TempDir()
	cfg := writeFile(t, "events:\n  recipient_journal: 20000\n")
	const accounts, batchSize = 5, 500
	now := time.Now()
	recipient := func(b, i int) string { return fmt.Sprintf("b%d-r%d@gmail.com", b, i) }
	var batches []*pb.StreamEventsRequest // every batch sent, by number
	acked := map[int]bool{}
	for attempt := 1; ; attempt++ {
		metricsAddr := testnet.FreeAddr(t)
		addr, proc := startServer(t, dataDir, "--config", cfg, "--metrics-listen", metricsAddr)
		stream, err := pb.NewEventServiceClient(dial(t, addr)).StreamEvents(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Two batches in flight keep commits small, so that merging a
		// generation takes several.
		slots, stopped := make(chan struct{}, 2), make(chan struct{})
		var mu sync.Mutex
		sent := batches
		go func() {
			for b := len(sent); ; b++ {
				req := &pb.StreamEventsRequest{BatchId: fmt.Sprint(b)}
				for i := range batchSize {
					req.Events = append(req.Events, &pb.Event{
						EventId: fmt.Sprintf("b%d-e%d", b, i), AccountId: fmt.Sprintf("acct-%d", i%accounts),
						Type: pb.EventType_EVENT_TYPE_BOUNCE, OccurredAt: timestamppb.New(now), Recipient: recipient(b, i),
						Bounce: &pb.Bounce{SmtpCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.1.1 no such user"},
					})
				}
				select {
				case slots <- struct{}{}:
				case <-stopped:
					return
				}
				mu.Lock()
				sent = append(sent, req)
				mu.Unlock()
				if err := stream.Send(req); err != nil {
					return
				}
			}
		}()
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			for !merging(metricsAddr) {
				time.Sleep(time.Millisecond)
			}
			_ = proc.Process.Kill()
		}()
		for {
			resp, err := stream.Recv()
			if err != nil {
				break
			}
			<-slots
			var b int
			if _, err := fmt.Sscan(resp.GetBatchId(), &b); err != nil {
				t.Fatal(err)
			}
			acked[b] = true
		}
		close(stopped)
		<-killed
		_ = proc.Wait()
		mu.Lock()
		batches = sent
		mu.Unlock()
		journals := checkBoltFile(t, filepath.Join(dataDir, store.FileName))
		t.Logf("attempt %d: killed after %d acknowledged batches, %d recipient journals on disk", attempt, len(acked), journals)
		if journals >= 2 {
			break
		}
		if attempt == 5 {
			t.Fatal("no kill in 5 attempts landed in a merge")
		}
	}

	addr, _ := startServer(t, dataDir, "--config", cfg)
	conn := dial(t, addr)
	ctx := context.Background()
	suppression := pb.NewSuppressionServiceClient(conn)
	// allSuppressed checks that every address of batch b is suppressed.
	allSuppressed := func(b int) {
		t.Helper()
		for a := range accounts {
			req := &pb.CheckRecipientsRequest{AccountId: fmt.Sprintf("acct-%d", a)}
			for i := a; i < batchSize; i += accounts {
				req.Recipients = append(req.Recipients, recipient(b, i))
			}
			resp, err := suppression.CheckRecipients(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range resp.GetResults() {
				if r.GetStatus() != pb.RecipientStatus_RECIPIENT_STATUS_SUPPRESSED {
					t.Fatalf("batch %d (acknowledged: %v): %s is %v, want suppressed", b, acked[b], r.GetRecipient(), r.GetStatus())
				}
			}
		}
	}
	for b := range acked {
		allSuppressed(b)
	}
	events := pb.NewEventServiceClient(conn)
	for b, req := range batches {
		resp, err := events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: req.GetEvents()})
		if err != nil {
			t.Fatal(err)
		}
		if acked[b] && resp.GetDuplicates() != batchSize {
			t.Errorf("acknowledged batch %d came back with %d duplicates, want %d", b, resp.GetDuplicates(), batchSize)
		}
	}
	for b := range batches {
		allSuppressed(b)
	}
}

// merging reports whether the server's metrics show a recipient merge
// under way with records journaled since it began, so that the journals
// of both generations are on disk.
func merging(metricsAddr string) bool {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return err == nil && mergingRE.Match(body) && currentRE.Match(body)
}

var (
	mergingRE = regexp.MustCompile(`(?m)^dpmon_recipient_journal_records\{generation="merging"\} [1-9]`)
	currentRE = regexp.MustCompile(`(?m)^dpmon_recipient_journal_records\{generation="current"\} [1-9]`)
)

// checkBoltFile runs bbolt's consistency check on a closed store file and
// returns how many recipient journals it holds.
func checkBoltFile(t *testing.T, path string) int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	journals := 0
	err = db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return tx.Bucket([]byte("recipient_journal")).ForEachBucket(func([]byte) error {
			journals++
			return nil
		})
	})
	if err != nil {
		t.Errorf("%s after the kill: %v", path, err)
	}
	return journals
}
