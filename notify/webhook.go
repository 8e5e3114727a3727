package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// PayloadVersion is the version of the webhook body's schema.
const PayloadVersion = 1

// Payload is the JSON body of a webhook: stable, versioned, and carrying
// the idempotency key in id as well as in the X-Dpmon-Delivery header.
type Payload struct {
	Version         int       `json:"version"`
	ID              string    `json:"id"`
	Kind            string    `json:"kind"`
	Severity        string    `json:"severity"`
	AccountID       string    `json:"account_id"`
	OccurredAt      time.Time `json:"occurred_at"`
	From            string    `json:"from"`
	To              string    `json:"to"`
	Reason          string    `json:"reason"`
	Findings        []Finding `json:"findings,omitempty"`
	Recommendations []string  `json:"recommendations,omitempty"`
	TicketID        string    `json:"ticket_id,omitempty"`
	// Sender is set for a sender's block or unblock under the bulk policy.
	Sender string `json:"sender,omitempty"`
}

// Finding is one measured breach in a payload.
type Finding struct {
	Metric    string  `json:"metric"`
	Window    string  `json:"window"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Severity  string  `json:"severity"`
	Sends     uint64  `json:"sends"`
}

func severityName(s monitor.Severity) string {
	switch s {
	case monitor.SeverityCritical:
		return "critical"
	case monitor.SeverityWarning:
		return "warning"
	}
	return "info"
}

// payloadOf turns a notification into its webhook body.
func payloadOf(n monitor.Notification) Payload {
	t := n.Transition
	p := Payload{
		Version: PayloadVersion, ID: n.ID, Kind: string(n.Kind), Severity: severityName(n.Kind.Severity()),
		AccountID: n.AccountID, OccurredAt: t.At.UTC(), From: t.From.String(), To: t.To.String(), Reason: t.Reason,
		Recommendations: t.Recommendations, TicketID: n.TicketID, Sender: t.Sender,
	}
	for _, f := range t.Findings {
		p.Findings = append(p.Findings, Finding{Metric: f.Metric.String(), Window: f.Window, Value: f.Rate.Value,
			Threshold: f.Threshold, Severity: severityName(f.Severity), Sends: f.Sends})
	}
	return p
}

// Webhook posts the payload as JSON, signed with HMAC-SHA256 over the raw
// body in X-Dpmon-Signature ("sha256=<hex>").
type Webhook struct {
	URL    string
	Secret []byte
	Client *http.Client
}

// Deliver implements Receiver.
func (w Webhook) Deliver(ctx context.Context, n monitor.Notification) (bool, error) {
	body, err := json.Marshal(payloadOf(n))
	if err != nil {
		return false, err
	}
	mac := hmac.New(sha256.New, w.Secret)
	mac.Write(body)
	return post(ctx, w.Client, w.URL, body, map[string]string{
		"X-Dpmon-Delivery":  n.ID,
		"X-Dpmon-Signature": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
	})
}

// Slack posts a message to a Slack-compatible incoming webhook.
type Slack struct {
	URL    string
	Client *http.Client
}

// Deliver implements Receiver.
func (s Slack) Deliver(ctx context.Context, n monitor.Notification) (bool, error) {
	esc := slackEscaper.Replace
	text := fmt.Sprintf("*%s* — %s\n%s", esc(Subject(n)), esc(n.ID), esc(n.Transition.Reason))
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return false, err
	}
	return post(ctx, s.Client, s.URL, body, nil)
}

// slackEscaper escapes what Slack reads as markup in a message's text:
// "<" opens a link or a mention (<!channel>, <https://...|label>) and "&"
// an entity. Account ids and reasons are typed by users, and must reach
// the channel as they were typed, not as a ping or a disguised link.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// NoRedirects makes client answer a redirect as it is: followed, a POST
// would turn into a GET without the body, and its 200 would pass for a
// delivery. A redirect is then a refusal.
func NoRedirects(client *http.Client) *http.Client {
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return client
}

// post sends a JSON body and says whether a failure is worth retrying:
// network errors, timeouts, 408, 429 and 5xx are; other refusals are not.
func post(ctx context.Context, client *http.Client, rawURL string, body []byte, headers map[string]string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		// Not wrapped: the parser's error quotes the URL, or parts of it.
		return false, errors.New("the receiver's URL does not parse")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "dpmon")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if client == nil {
		client = NoRedirects(&http.Client{Timeout: 10 * time.Second})
	}
	// Errors name the receiver by origin only: the userinfo, path and
	// query may each be its secret.
	where := req.URL.Scheme + "://" + req.URL.Host
	resp, err := client.Do(req)
	if err != nil {
		// Do's *url.Error quotes the whole URL (only a password is
		// masked): keep the error, with the origin in its place.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			uerr.URL = where
		}
		return true, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return true, fmt.Errorf("%s: %s", where, resp.Status)
	}
	return false, fmt.Errorf("%s refused the notification: %s", where, resp.Status)
}
