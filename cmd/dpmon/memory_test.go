package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/internal/rawproto"
)

// largeBatch is a valid IngestEventsRequest of about size bytes: events
// with long diagnostics, which the server must read and decode whole
// before it can judge them.
func largeBatch(t *testing.T, size int) []byte {
	t.Helper()
	const perEvent = 1 << 20
	req := &pb.IngestEventsRequest{}
	for i := range size / perEvent {
		req.Events = append(req.Events, &pb.Event{EventId: fmt.Sprint("big-", i), AccountId: "acme", Type: pb.EventType_EVENT_TYPE_BOUNCE,
			OccurredAt: timestamppb.Now(), Recipient: "jane@example.com",
			Bounce: &pb.Bounce{SmtpCode: 550, Diagnostic: strings.Repeat("x", perEvent-200)}})
	}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flood sends calls requests of body to method at once, each from its own
// connection, and returns their status codes.
func flood(t *testing.T, addr, method, token string, body []byte, calls int) map[codes.Code]int {
	t.Helper()
	ctx := context.Background()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	var mu sync.Mutex
	got := map[codes.Code]int{}
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			var reply []byte
			err = conn.Invoke(ctx, method, body, &reply, grpc.ForceCodecV2(rawproto.Codec{}))
			mu.Lock()
			got[status.Code(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return got
}

// memory reads a process's resident set now (VmRSS) and at its peak
// (VmHWM), in bytes.
func memory(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to read the server's memory from: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), ":")
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch {
		case err != nil:
		case name == "VmRSS":
			rss = kib << 10
		case name == "VmHWM":
			peak = kib << 10
		}
	}
	return rss, peak
}

// built is the dpmon binary the memory tests measure, built once.
var built struct {
	once sync.Once
	path string
	err  error
}

// releaseBinary builds dpmon as it ships: the test binary may carry the
// race detector, whose shadow memory would be most of what is measured.
func releaseBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "dpmon-memory-test")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "dpmon")
		out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// releaseServer starts a release build of dpmon as its own process with
// one admin token ("ops-token") and extra configuration, and returns its
// address, its pid and its data directory.
func releaseServer(t *testing.T, config string) (addr string, pid int, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("tokens:\n  - {name: ops, sha256: "+sha256Hex("ops-token")+", role: admin, create_accounts: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "dpmon.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(releaseBinary(t), "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--tokens", tokens, "--config", cfg)
	addr = startProcess(t, cmd)
	return addr, cmd.Process.Pid, dataDir
}

// Floods of large IngestEvents (64 at once of 15 MiB each, 960 MiB in all,
// each under the message limit) leave a release build's peak memory within
// a bound over its idle RSS:
//   - without credentials, 64 MiB: the calls are refused from their
//     headers and nothing of their bodies is read (read first, they took
//     940 MiB);
//   - with them, against a decoding budget of 96 MiB, twice the budget
//     (the garbage collector lets the heap grow to twice what is live)
//     and 64 MiB: the calls are read two at a time, the others wait with
//     their clients held back by flow control (read at once, 785 MiB);
//   - as health checks, which need no credentials, 128 MiB: an address
//     may have two at once, the others are refused unread, and they are
//     read one at a time, from a budget of their own.
func TestFloodsOfLargeCallsStayWithinMemoryBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 3 × 960 MiB over loopback")
	}
	batch := largeBatch(t, 15<<20)
	health, err := proto.Marshal(&healthpb.HealthCheckRequest{Service: strings.Repeat("x", 15<<20)})
	if err != nil {
		t.Fatal(err)
	}
	ingest := pb.EventService_IngestEvents_FullMethodName
	for _, c := range []struct {
		name, config, method, token string
		body                        []byte
		want                        map[codes.Code]bool // the answers the calls may get
		bound                       int64
	}{
		{"unauthenticated", "", ingest, "", batch, map[codes.Code]bool{codes.Unauthenticated: true}, 64 << 20},
		// OK: each event is rejected on its own for its long diagnostic.
		{"authenticated", "limits: {max_message_bytes: 16MiB, max_decoding_bytes: 96MiB}\n", ingest, "ops-token", batch,
			map[codes.Code]bool{codes.OK: true}, 2*96<<20 + 64<<20},
		// NotFound: no such service; ResourceExhausted: more than two at once.
		{"health checks", "", "/grpc.health.v1.Health/Check", "", health,
			map[codes.Code]bool{codes.NotFound: true, codes.ResourceExhausted: true}, 128 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, pid, _ := releaseServer(t, c.config)
			idle, _ := memory(t, pid)
			for code, n := range flood(t, addr, c.method, c.token, c.body, 64) {
				if !c.want[code] {
					t.Fatalf("%d calls answered %v, want only %v", n, code, c.want)
				}
			}
			_, peak := memory(t, pid)
			t.Logf("idle RSS %d MiB, peak %d MiB", idle>>20, peak>>20)
			if grew := peak - idle; grew > c.bound {
				t.Errorf("the server's peak memory grew by %d MiB over its idle RSS, want at most %d MiB", grew>>20, c.bound>>20)
			}
		})
	}
}

func sha256Hex(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
