package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// Email sends notifications through an SMTP server: to the addresses in To
// (an operators' list) or, when To is empty, to the notification's own
// recipients (the account's admin contacts).
type Email struct {
	// Addr is the server, host:port.
	Addr string
	From string
	To   []string
	// Username and Password authenticate (PLAIN), only over TLS.
	Username, Password string
	// StartTLS upgrades the connection with STARTTLS, and fails if the
	// server cannot; TLS configures it (nil: the system's roots).
	StartTLS bool
	TLS      *tls.Config
}

// Deliver implements Receiver. An SMTP 4xx reply or a network error is
// worth retrying; a 5xx reply is not.
func (e Email) Deliver(ctx context.Context, n monitor.Notification) (bool, error) {
	to := e.To
	if len(to) == 0 {
		to = n.Recipients
	}
	if len(to) == 0 {
		return false, errors.New("no recipients")
	}
	text, html, err := Bodies(n)
	if err != nil {
		return false, err
	}
	return e.Send(ctx, to, Subject(n), n.ID, text, html)
}

// Send sends one message to addresses: plain text and HTML, id as its
// Message-ID and X-Dpmon-Delivery. It says whether a failure is worth
// retrying.
func (e Email) Send(ctx context.Context, to []string, subject, id, text, html string) (bool, error) {
	msg, err := message(e.From, to, subject, id, text, html)
	if err != nil {
		return false, err
	}
	err = e.send(ctx, to, msg)
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return reply.Code < 500, fmt.Errorf("smtp %s: %w", e.Addr, err)
	}
	if err != nil {
		return true, fmt.Errorf("smtp %s: %w", e.Addr, err)
	}
	return false, nil
}

func (e Email) send(ctx context.Context, to []string, msg []byte) error {
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline) // net/smtp knows no context
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("dpmon"); err != nil {
		return err
	}
	if e.StartTLS {
		cfg := e.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		cfg = cfg.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if e.Username != "" {
		// PlainAuth refuses to send the password without TLS (but on
		// localhost).
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(e.From); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	// The server has taken the message: a failed QUIT must not make it
	// send again.
	_ = c.Quit()
	return nil
}

// message builds a multipart/alternative message: plain text and HTML.
// The subject is encoded; the other header values must be single lines,
// for a line break in one would start a header of its own (a Bcc, say).
func message(from string, to []string, subject, id, text, html string) ([]byte, error) {
	for _, v := range append([]string{from, id}, to...) {
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("header value %q holds a line break", v)
		}
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from)
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", time.Now().UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+id+"@dpmon>")
	header("X-Dpmon-Delivery", id)
	header("MIME-Version", "1.0")
	header("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", text}, {"text/html", html}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(part.body)); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
