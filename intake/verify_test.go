package intake

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"strconv"
	"testing"
	"time"
)

func TestVerifyMailgun(t *testing.T) {
	key := []byte("key-3ax6xnjp29jd6fds4gc373sgvjxteol0")
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts + "token-1"))
	good := hex.EncodeToString(mac.Sum(nil))
	if err := VerifyMailgun(key, ts, "token-1", good, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("a good signature: %v", err)
	}
	for name, check := range map[string]error{
		"another token":    VerifyMailgun(key, ts, "token-2", good, now, 5*time.Minute),
		"another key":      VerifyMailgun([]byte("key-other"), ts, "token-1", good, now, 5*time.Minute),
		"not hex":          VerifyMailgun(key, ts, "token-1", "zz", now, 5*time.Minute),
		"replayed later":   VerifyMailgun(key, ts, "token-1", good, now.Add(6*time.Minute), 5*time.Minute),
		"from the future":  VerifyMailgun(key, ts, "token-1", good, now.Add(-6*time.Minute), 5*time.Minute),
		"no signature":     VerifyMailgun(key, ts, "token-1", "", now, 5*time.Minute),
		"empty everything": VerifyMailgun(key, "", "", "", now, 5*time.Minute),
		"no key configured": VerifyMailgun(nil, ts, "token-1", func() string {
			m := hmac.New(sha256.New, nil)
			m.Write([]byte(ts + "token-1"))
			return hex.EncodeToString(m.Sum(nil))
		}(), now, 5*time.Minute),
	} {
		if !errors.Is(check, ErrSignature) {
			t.Errorf("%s: got %v, want ErrSignature", name, check)
		}
	}
}

func TestVerifySendGrid(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseSendGridKey(base64.StdEncoding.EncodeToString(der))
	if err != nil {
		t.Fatal(err)
	}
	ts, body := strconv.FormatInt(now.Unix(), 10), []byte(`[{"event":"delivered","email":"a@example.com"}]`)
	sum := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	good := base64.StdEncoding.EncodeToString(sig)
	if err := VerifySendGrid(key, ts, body, good, now, 10*time.Minute); err != nil {
		t.Errorf("a good signature: %v", err)
	}
	for name, check := range map[string]error{
		"another body":   VerifySendGrid(key, ts, append(body, ' '), good, now, 10*time.Minute),
		"another time":   VerifySendGrid(key, strconv.FormatInt(now.Unix()+1, 10), body, good, now, 10*time.Minute),
		"not base64":     VerifySendGrid(key, ts, body, "%%%", now, 10*time.Minute),
		"replayed later": VerifySendGrid(key, ts, body, good, now.Add(time.Hour), 10*time.Minute),
		"no key":         VerifySendGrid(nil, ts, body, good, now, 10*time.Minute),
	} {
		if !errors.Is(check, ErrSignature) {
			t.Errorf("%s: got %v, want ErrSignature", name, check)
		}
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	for _, bad := range []string{"not base64 %", base64.StdEncoding.EncodeToString([]byte("junk")), base64.StdEncoding.EncodeToString(rsaDER)} {
		if _, err := ParseSendGridKey(bad); err == nil {
			t.Errorf("ParseSendGridKey(%.20q): no error", bad)
		}
	}
}

// snsSigner signs SNS messages as SNS does, with a certificate of its own.
type snsSigner struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func newSNSSigner(t *testing.T) snsSigner {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.us-east-1.amazonaws.com"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return snsSigner{key, cert}
}

func (s snsSigner) sign(t *testing.T, msg SNSMessage) SNSMessage {
	t.Helper()
	text, err := snsStringToSign(msg)
	if err != nil {
		t.Fatal(err)
	}
	hash, sum := crypto.SHA256, sha256.Sum256([]byte(text))
	digest := sum[:]
	if msg.SignatureVersion == "1" {
		s1 := sha1.Sum([]byte(text))
		hash, digest = crypto.SHA1, s1[:]
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, hash, digest)
	if err != nil {
		t.Fatal(err)
	}
	msg.Signature = base64.StdEncoding.EncodeToString(sig)
	return msg
}

func TestVerifySNS(t *testing.T) {
	s := newSNSSigner(t)
	topics := []string{"arn:aws:sns:us-east-1:1234567890:SES_Events", "arn:aws:sns:us-east-1:123456789012:ses", "a"}
	body := sample(t, "amazon-ses-webhook-bounce.json")
	notification, err := ReadSNS(body)
	if err != nil {
		t.Fatal(err)
	}
	confirmation := SNSMessage{Type: "SubscriptionConfirmation", MessageID: "m-2", Token: "tok", TopicArn: "arn:aws:sns:us-east-1:123456789012:ses",
		Message: "You have chosen to subscribe", SubscribeURL: "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", Timestamp: "2026-12-01T10:00:00Z"}
	noSubject := notification
	noSubject.Subject = ""
	for _, version := range []string{"1", "2"} {
		for name, msg := range map[string]SNSMessage{"notification": notification, "without subject": noSubject, "confirmation": confirmation} {
			msg.SignatureVersion = version
			signed := s.sign(t, msg)
			if err := VerifySNS(signed, s.cert, topics); err != nil {
				t.Errorf("v%s %s: %v", version, name, err)
			}
			tampered := signed
			tampered.Message += " "
			if err := VerifySNS(tampered, s.cert, topics); !errors.Is(err, ErrSignature) {
				t.Errorf("v%s %s, tampered: got %v, want ErrSignature", version, name, err)
			}
			// SNS signs every account's topics alike: another one's
			// message verifies, and is refused for its topic.
			if err := VerifySNS(signed, s.cert, topics[2:]); !errors.Is(err, ErrSignature) {
				t.Errorf("v%s %s from a topic not configured: got %v, want ErrSignature", version, name, err)
			}
		}
	}
	// The sample's own signature is an example, and other keys sign
	// nothing of ours.
	if err := VerifySNS(notification, s.cert, topics); !errors.Is(err, ErrSignature) {
		t.Errorf("the sample as it is: got %v, want ErrSignature", err)
	}
	other := newSNSSigner(t)
	signed := s.sign(t, SNSMessage{Type: "Notification", SignatureVersion: "2", Message: "{}", MessageID: "m", Timestamp: "t", TopicArn: "a"})
	if err := VerifySNS(signed, other.cert, topics); !errors.Is(err, ErrSignature) {
		t.Errorf("another certificate: got %v, want ErrSignature", err)
	}
	signed.SignatureVersion = "3"
	if err := VerifySNS(signed, s.cert, topics); !errors.Is(err, ErrSignature) {
		t.Errorf("version 3: got %v, want ErrSignature", err)
	}
}

func TestVerifySNSCertificate(t *testing.T) {
	caKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	issue := func(name string) *x509.Certificate {
		key, _ := rsa.GenerateKey(rand.Reader, 2048)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		return cert
	}
	if err := VerifySNSCertificate(issue(SNSCertificateName), nil, roots, now); err != nil {
		t.Errorf("SNS's certificate: %v", err)
	}
	for name, err := range map[string]error{
		"another name":   VerifySNSCertificate(issue("sns.s3-us-west-2.amazonaws.com"), nil, roots, now),
		"self-signed":    VerifySNSCertificate(newSNSSigner(t).cert, nil, roots, now),
		"expired":        VerifySNSCertificate(issue(SNSCertificateName), nil, roots, now.Add(2*time.Hour)),
		"system's roots": VerifySNSCertificate(issue(SNSCertificateName), nil, nil, now),
	} {
		if !errors.Is(err, ErrSignature) {
			t.Errorf("%s: got %v, want ErrSignature", name, err)
		}
	}
}

func TestCheckSigningCertURL(t *testing.T) {
	host, err := CertHostPattern(`sns\.[a-z0-9-]+\.amazonaws\.com|sns\.[a-z0-9-]+\.amazonaws\.com\.cn`)
	if err != nil {
		t.Fatal(err)
	}
	for _, good := range []string{"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-12345abcde.pem",
		"https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem"} {
		if err := CheckSigningCertURL(good, host); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{
		"http://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
		"https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService.pem",
		"https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
		"https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
		"https://xsns.us-east-1.amazonaws.com/x.pem",
		"https://sns.us-east-1.amazonaws.com:8443/x.pem",
		"https://sns.us-east-1.amazonaws.com/x.txt",
		// SNS sends neither; each variant would be fetched afresh.
		"https://sns.us-east-1.amazonaws.com/x.pem?n=1",
		"https://sns.us-east-1.amazonaws.com/x.pem#n",
		"://nonsense",
	} {
		if err := CheckSigningCertURL(bad, host); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: got %v, want ErrSignature", bad, err)
		}
	}
}
