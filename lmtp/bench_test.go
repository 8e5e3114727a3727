package lmtp

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/server"
)

// BenchmarkLMTP delivers DSNs over loopback into a real server and store,
// on 16 connections at once as an MTA's LMTP client does: reports/s, each
// answered once its event is durable.
func BenchmarkLMTP(b *testing.B) {
	e := newEnvTB(b, t0)
	reports := make([][]byte, b.N)
	for i := range b.N {
		reports[i] = []byte(strings.ReplaceAll(monitortest.DSN(fmt.Sprintf("<m%d@acme.example>", i), fmt.Sprintf("r%d@example.org", i), "acme",
			t0.Add(-time.Minute)), "\n", "\r\n"))
	}
	var next atomic.Int64
	b.SetParallelism(8) // 16 connections on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			b.Error(err)
			return
		}
		c := smtp.NewClientLMTP(conn)
		defer c.Close()
		if err := c.Hello("mta.test"); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			i := next.Add(1) - 1
			if err := deliverOn(c, reports[i], "bounces@dpmon.test"); err != nil {
				b.Errorf("report %d: %v", i, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	if got := e.counted(server.ResultAccepted); got != b.N {
		b.Errorf("%d events accepted, want %d", got, b.N)
	}
}

// deliverOn delivers one message on an open LMTP connection.
func deliverOn(c *smtp.Client, data []byte, rcpt string) error {
	if err := c.Mail("", nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	_, err = w.CloseWithLMTPResponse()
	return err
}
