package intake

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrSignature is returned (wrapped, with the reason) when a post's
// signature or credentials do not hold: the provider gets a 401, and the
// reason is logged without the secret.
var ErrSignature = errors.New("signature does not hold")

// VerifyMailgun checks a Mailgun post's signature object: the hex
// HMAC-SHA256 of timestamp and token under the signing key, with a
// timestamp within window of now, so that a captured post cannot be
// replayed later. (That each token is taken once is the caller's to keep.)
func VerifyMailgun(signingKey []byte, timestamp, token, signature string, now time.Time, window time.Duration) error {
	if len(signingKey) == 0 {
		return fmt.Errorf("mailgun: %w: no signing key configured", ErrSignature) // else anyone could sign
	}
	mac := hmac.New(sha256.New, signingKey)
	mac.Write([]byte(timestamp))
	mac.Write([]byte(token))
	got, err := hex.DecodeString(signature)
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("mailgun: %w", ErrSignature)
	}
	return CheckTimestamp("mailgun", timestamp, now, window)
}

// VerifySendGrid checks a SendGrid Event Webhook post: the base64 ASN.1
// ECDSA signature (X-Twilio-Email-Event-Webhook-Signature) of SHA-256 over
// the timestamp header followed by the body, under the account's
// verification key, with a timestamp within window of now.
func VerifySendGrid(key *ecdsa.PublicKey, timestamp string, body []byte, signature string, now time.Time, window time.Duration) error {
	if key == nil {
		return fmt.Errorf("sendgrid: %w: no public key configured", ErrSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("sendgrid: %w: signature is not base64", ErrSignature)
	}
	h := sha256.New()
	h.Write([]byte(timestamp))
	h.Write(body)
	if !ecdsa.VerifyASN1(key, h.Sum(nil), sig) {
		return fmt.Errorf("sendgrid: %w", ErrSignature)
	}
	return CheckTimestamp("sendgrid", timestamp, now, window)
}

// ParseSendGridKey reads SendGrid's verification key as its settings show
// it: base64 of the DER public key.
func ParseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("sendgrid public key: not base64: %w", err)
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("sendgrid public key: %w", err)
	}
	ec, ok := key.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("sendgrid public key: %T, want ECDSA", key)
	}
	return ec, nil
}

// CheckTimestamp refuses a provider's Unix timestamp further than window
// from now, as an ErrSignature: a captured post cannot be replayed later.
func CheckTimestamp(provider, timestamp string, now time.Time, window time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %w: timestamp %q is not Unix seconds", provider, ErrSignature, timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return fmt.Errorf("%s: %w: timestamp is %v away from now, more than %v", provider, ErrSignature, d.Round(time.Second), window)
	}
	return nil
}

// CertHostPattern compiles the configured pattern of the hosts SNS
// signing certificates may come from (such as
// sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?), once, to match host names
// whole.
func CertHostPattern(pattern string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + pattern + `)$`)
}

// CheckSigningCertURL refuses an SNS SigningCertURL that is not HTTPS on a
// host the pattern (from CertHostPattern) matches: the certificate is
// fetched from there. The pattern alone is not enough (an S3 bucket named
// "sns" has a host it matches): the certificate fetched must also pass
// VerifySNSCertificate.
func CheckSigningCertURL(raw string, host *regexp.Regexp) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Port() != "" || !strings.HasSuffix(u.Path, ".pem") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("sns: %w: signing certificate URL is not an https URL of a .pem file", ErrSignature)
	}
	if !host.MatchString(u.Hostname()) {
		return fmt.Errorf("sns: %w: signing certificate host %q is not one the configuration allows", ErrSignature, u.Hostname())
	}
	return nil
}

// SNSCertificateName is the name SNS's signing certificates are issued to.
const SNSCertificateName = "sns.amazonaws.com"

// VerifySNSCertificate checks a signing certificate fetched from a
// SigningCertURL: issued to SNSCertificateName by a CA of roots (nil: the
// system's), valid at now. Without it, whoever serves a certificate from
// a host the URL pattern lets through could sign messages.
func VerifySNSCertificate(cert *x509.Certificate, intermediates, roots *x509.CertPool, now time.Time) error {
	_, err := cert.Verify(x509.VerifyOptions{DNSName: SNSCertificateName, Intermediates: intermediates, Roots: roots, CurrentTime: now})
	if err != nil {
		return fmt.Errorf("sns: %w: signing certificate: %w", ErrSignature, err)
	}
	return nil
}

// VerifySNS checks an SNS message: from one of the topics configured (SNS
// signs every AWS account's messages with the same certificates, so a
// valid signature alone says only that some topic sent it), and signed
// with the certificate its SigningCertURL names (checked with
// CheckSigningCertURL and VerifySNSCertificate by the caller who fetches
// it): RSA PKCS #1 v1.5 over the message's canonical form, SHA-1 for
// SignatureVersion 1 and SHA-256 for 2.
func VerifySNS(msg SNSMessage, cert *x509.Certificate, topics []string) error {
	if !slices.Contains(topics, msg.TopicArn) {
		return fmt.Errorf("sns: %w: topic %q is not one the configuration names", ErrSignature, msg.TopicArn)
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("sns: %w: certificate key is %T, want RSA", ErrSignature, cert.PublicKey)
	}
	sig, err := base64.StdEncoding.DecodeString(msg.Signature)
	if err != nil {
		return fmt.Errorf("sns: %w: signature is not base64", ErrSignature)
	}
	text, err := snsStringToSign(msg)
	if err != nil {
		return err
	}
	var hash crypto.Hash
	var sum []byte
	switch msg.SignatureVersion {
	case "1":
		s := sha1.Sum([]byte(text))
		hash, sum = crypto.SHA1, s[:]
	case "2":
		s := sha256.Sum256([]byte(text))
		hash, sum = crypto.SHA256, s[:]
	default:
		return fmt.Errorf("sns: %w: SignatureVersion %q is not 1 or 2", ErrSignature, msg.SignatureVersion)
	}
	if err := rsa.VerifyPKCS1v15(key, hash, sum, sig); err != nil {
		return fmt.Errorf("sns: %w", ErrSignature)
	}
	return nil
}

// snsStringToSign is the canonical form SNS signs: the message's fields,
// in this order, each name and value on a line of its own; Subject only
// when there is one.
func snsStringToSign(msg SNSMessage) (string, error) {
	type field struct{ name, value string }
	var fields []field
	switch msg.Type {
	case "Notification":
		fields = []field{{"Message", msg.Message}, {"MessageId", msg.MessageID}}
		if msg.Subject != "" {
			fields = append(fields, field{"Subject", msg.Subject})
		}
		fields = append(fields, field{"Timestamp", msg.Timestamp}, field{"TopicArn", msg.TopicArn}, field{"Type", msg.Type})
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		fields = []field{{"Message", msg.Message}, {"MessageId", msg.MessageID}, {"SubscribeURL", msg.SubscribeURL},
			{"Timestamp", msg.Timestamp}, {"Token", msg.Token}, {"TopicArn", msg.TopicArn}, {"Type", msg.Type}}
	default:
		return "", fmt.Errorf("sns: %w: message type %q", ErrPayload, msg.Type)
	}
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f.name)
		b.WriteByte('\n')
		b.WriteString(f.value)
		b.WriteByte('\n')
	}
	return b.String(), nil
}
