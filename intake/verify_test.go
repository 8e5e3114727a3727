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
	"regexp"
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
			if err := VerifySNS(signed, s.cert); err != nil {
				t.Errorf("v%s %s: %v", version, name, err)
			}
			tampered := signed
			tampered.Message += " "
			if err := VerifySNS(tampered, s.cert); !errors.Is(err, ErrSignature) {
				t.Errorf("v%s %s, tampered: got %v, want ErrSignature", version, name, err)
			}
		}
	}
	// The sample's own signature is an example, and other keys sign
	// nothing of ours.
	if err := VerifySNS(notification, s.cert); !errors.Is(err, ErrSignature) {
		t.Errorf("the sample as it is: got %v, want ErrSignature", err)
	}
	other := newSNSSigner(t)
	signed := s.sign(t, SNSMessage{Type: "Notification", SignatureVersion: "2", Message: "{}", MessageID: "m", Timestamp: "t", TopicArn: "a"})
	if err := VerifySNS(signed, other.cert); !errors.Is(err, ErrSignature) {
		t.Errorf("another certificate: got %v, want ErrSignature", err)
	}
	signed.SignatureVersion = "3"
	if err := VerifySNS(signed, s.cert); !errors.Is(err, ErrSignature) {
		t.Errorf("version 3: got %v, want ErrSignature", err)
	}
}

func TestCheckSigningCertURL(t *testing.T) {
	host := regexp.MustCompile(`sns\.[a-z0-9-]+\.amazonaws\.com`)
	if err := CheckSigningCertURL("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-12345abcde.pem", host); err != nil {
		t.Errorf("SNS's own: %v", err)
	}
	for _, bad := range []string{
		"http://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
		"https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService.pem",
		"https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
		"https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
		"https://xsns.us-east-1.amazonaws.com/x.pem",
		"https://sns.us-east-1.amazonaws.com:8443/x.pem",
		"https://sns.us-east-1.amazonaws.com/x.txt",
		"://nonsense",
	} {
		if err := CheckSigningCertURL(bad, host); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: got %v, want ErrSignature", bad, err)
		}
	}
}
