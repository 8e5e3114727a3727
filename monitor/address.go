package monitor

import (
	"strings"
	"unicode/utf8"
)

// CheckAddress returns why s is not a deliverable mailbox address in the
// form platforms send (an RFC 5321 addr-spec with a dot-atom local part and
// a host name, UTF-8 allowed as in RFC 6531 but not what CheckName
// refuses), or "" when it is one.
//
// It is stricter than RFC 5322 on purpose: display names, comments, quoted
// local parts and address literals do not occur in the events of a sending
// platform, and a hand-rolled scan is several times faster than net/mail on
// the ingest path. Every address it accepts is also accepted unchanged by
// net/mail (see the fuzz test).
func CheckAddress(s string) string {
	if len(s) > 254 {
		return "is longer than 254 bytes"
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "must be an address like name@example.com"
	}
	local, domain := s[:at], s[at+1:]
	switch {
	case local == "":
		return "has an empty local part"
	case len(local) > 64:
		return "has a local part longer than 64 bytes"
	}
	if reason := checkDotAtom(local); reason != "" {
		return reason
	}
	return checkHostName(domain)
}

// checkDotAtom returns why s is not atoms of atext (or UTF-8) joined by
// single dots, or "".
func checkDotAtom(s string) string {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return "has an invalid local part"
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if reason := checkAddressRune(r, size); reason != "" {
				return "has a local part that " + reason
			}
			i += size
			continue
		}
		if c != '.' && !isAtext(c) {
			return "has an invalid local part"
		}
		i++
	}
	return ""
}

// checkAddressRune returns why the non-ASCII rune r, decoded from size
// bytes, may not be in an address, or "". An address is a name people read
// and compare by eye, so it allows what CheckName allows.
func checkAddressRune(r rune, size int) string {
	if reason := checkRune(r, size, true); reason != "" {
		return reason
	}
	if r == utf8.RuneError {
		return "contains U+FFFD, the replacement character"
	}
	return ""
}

// isAtext reports whether c is an RFC 5322 atext character.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isHostName reports whether s is a host name of at least two labels of
// letters, digits and inner hyphens (UTF-8 letters allowed for IDNs).
func isHostName(s string) bool { return checkHostName(s) == "" }

// checkHostName returns why s is not a host name (see isHostName), or "".
func checkHostName(s string) string {
	if len(s) == 0 || len(s) > 253 {
		return "has an invalid domain"
	}
	labels := 0
	for label := range strings.SplitSeq(s, ".") {
		if reason := checkLabel(label); reason != "" {
			return reason
		}
		labels++
	}
	if labels < 2 {
		return "has an invalid domain"
	}
	return ""
}

func checkLabel(s string) string {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return "has an invalid domain"
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if reason := checkAddressRune(r, size); reason != "" {
				return "has a domain that " + reason
			}
			i += size
			continue
		}
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return "has an invalid domain"
		}
		i++
	}
	return ""
}

// RecipientKey returns the form in which addresses are compared: the domain
// in lower case (domains are case-insensitive), the local part as given
// (RFC 5321 leaves its case to the receiving server). s must pass
// CheckAddress.
func RecipientKey(s string) string {
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if !hasUpper(domain) {
		return s
	}
	return s[:at+1] + strings.ToLower(domain)
}

// AddressDomain returns the domain of an address in lower case.
func AddressDomain(s string) string {
	return strings.ToLower(s[strings.LastIndexByte(s, '@')+1:])
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}
