package intake

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dpmon/dpmon/monitor"
)

// reply reads a remote server's reply as a provider or a report relays it
// ("smtp; 550 5.1.1 user unknown", "5.1.1 The email account ...") into the
// bounce it makes. The leading code and enhanced status of the text are
// taken when they are ones a bounce may carry; code and status, reported
// apart by the source (0 and "" when it does not), stand in for them (a
// status with a comment, "5.1.1 (bad mailbox)", counts). The text is kept
// whole, less the "smtp;" type of an RFC 3464 Diagnostic-Code, on one line
// and cut to the size a diagnostic may have.
func reply(code int, status, text string) monitor.Bounce {
	if !monitor.ValidReplyCode(code) {
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
	if word, _, ok := leadingWord(rest); ok && monitor.ValidEnhancedStatus(word) {
		b.EnhancedStatus = word
	} else if status = bareStatus(status); monitor.ValidEnhancedStatus(status) {
		b.EnhancedStatus = status
	}
	if monitor.ValidReplyCode(code) {
		b.SMTPCode = code
	}
	return b
}

// bareStatus is a status field without its comment: "5.1.1 (bad
// mailbox)" and "5.1.1(bad mailbox)" are 5.1.1.
func bareStatus(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), " ")
	s, _, _ = strings.Cut(s, "(")
	return s
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
