package intake

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dpmon/dpmon/monitor"
)

// reply reads a remote server's reply as a provider relays it ("smtp;
// 550 5.1.1 user unknown", "5.1.1 The email account ...") into the bounce
// it makes. The leading code and enhanced status are taken when they are
// ones a bounce may carry (code gives the code when the provider reports
// it apart, 0 if not); the text is kept whole, less the "smtp;" type of an
// RFC 3464 Diagnostic-Code, on one line and cut to the size a diagnostic
// may have.
func reply(code int, text string) monitor.Bounce {
	if (&monitor.Bounce{SMTPCode: code}).Validate("") != nil {
		code = 0 // a provider's own code (Mailgun's 498): the text's may do
	}
	text = oneLine(text, monitor.MaxDiagnosticLen)
	b := monitor.Bounce{Diagnostic: text}
	rest := text
	if typ, after, ok := strings.Cut(rest, ";"); ok && strings.EqualFold(strings.TrimSpace(typ), "smtp") {
		rest = strings.TrimSpace(after)
		b.Diagnostic = rest
	}
	if word, after, ok := leadingWord(rest); ok && len(word) == 3 && allDigits(word) {
		if code == 0 {
			code, _ = strconv.Atoi(word)
		}
		rest = after
	}
	if word, _, ok := leadingWord(rest); ok && (&monitor.Bounce{EnhancedStatus: word}).Validate("") == nil {
		b.EnhancedStatus = word
	}
	if (&monitor.Bounce{SMTPCode: code}).Validate("") == nil {
		b.SMTPCode = code
	}
	return b
}

// leadingWord splits s at its first space or hyphen (a multi-line reply
// writes "550-5.1.1").
func leadingWord(s string) (word, rest string, ok bool) {
	i := strings.IndexAny(s, " -")
	if i <= 0 {
		return s, "", s != ""
	}
	return s[:i], strings.TrimSpace(s[i+1:]), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// oneLine makes free text from a payload fit a single-line field of at
// most max bytes: invalid UTF-8 becomes U+FFFD, every run of control
// characters, line breaks and spaces one space, and the text is cut at a
// character boundary.
func oneLine(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
			space = b.Len() > 0
			continue
		}
		n := utf8.RuneLen(r)
		if space {
			n++
		}
		if b.Len()+n > max {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
