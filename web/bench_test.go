package web

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkHooks posts over loopback into a real server and store, from
// 16 posters at once, as a provider's delivery workers do: events/s per
// receiver, each post durable before its answer. SendGrid batches; the
// others post one event at a time.
func BenchmarkHooks(b *testing.B) {
	at := strconv.FormatInt(t0.Add(-time.Minute).Unix(), 10)
	key := newSendGridKey(b)
	w := newSNSWorld(b, t0)
	for _, tc := range []struct {
		name      string
		provider  string
		configure func(*Options)
		perPost   int
		post      func(n int64) ([]byte, http.Header)
	}{
		{"postmark", "postmark", postmarkHooks, 1, func(n int64) ([]byte, http.Header) {
			_, h := postmarkAuthAs("pm", "s3cret")
			return fmt.Appendf(nil, `{"RecordType":"Delivery","ID":%d,"MessageID":"m%d","Recipient":"r%d@example.com","DeliveredAt":"2026-12-03T11:59:00Z"}`, n, n, n), h
		}},
		{"mailgun", "mailgun", mailgunHooks, 1, func(n int64) ([]byte, http.Header) {
			body := fmt.Appendf(nil, `{"event-data":{"event":"delivered","id":"d%d","timestamp":%s,"recipient":"r%d@example.com"}}`, n, at, n)
			return mailgunSigned(b, body, t0, "token-"+strconv.FormatInt(n, 10), mailgunKey), nil
		}},
		{"sendgrid_batch100", "sendgrid", sendGridHooks(key), 100, func(n int64) ([]byte, http.Header) {
			var events []string
			for i := range 100 {
				events = append(events, fmt.Sprintf(`{"event":"delivered","sg_event_id":"p%d-%d","email":"r%d-%d@example.com","timestamp":%s}`, n, i, n, i, at))
			}
			body := []byte("[" + strings.Join(events, ",") + "]")
			return body, sendGridSigned(b, key, body, t0)
		}},
		{"ses", "ses", w.hooks, 1, func(n int64) ([]byte, http.Header) {
			notice := fmt.Appendf(nil, `{"notificationType":"Delivery","mail":{"messageId":"m%d","timestamp":"2026-12-03T11:58:00.000Z"},`+
				`"delivery":{"timestamp":"2026-12-03T11:59:00.000Z","recipients":["r%d@example.com"]}}`, n, n)
			msg := notification(notice, "2")
			msg.MessageID = "sns-" + strconv.FormatInt(n, 10)
			return w.sign(b, msg), nil
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b, t0, tc.configure)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			// The posts are made, and signed, before the clock starts.
			posts := make([][]byte, b.N)
			headers := make([]http.Header, b.N)
			for i := range b.N {
				posts[i], headers[i] = tc.post(int64(i))
			}
			var next atomic.Int64
			b.SetParallelism(8) // 16 posters on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/hooks/"+tc.provider, bytes.NewReader(posts[i]))
					req.Header = headers[i]
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					var buf bytes.Buffer
					buf.ReadFrom(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || !bytes.Contains(buf.Bytes(), fmt.Appendf(nil, `"accepted":%d`, tc.perPost)) {
						b.Errorf("post %d: %d %s", i, resp.StatusCode, buf.String())
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*tc.perPost)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
