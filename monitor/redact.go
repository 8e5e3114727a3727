package monitor

import "strings"

// RedactURLs returns text with every http(s) URL in it cut down to its
// scheme, host and port. A receiver's URL may be its secret (a Slack
// webhook's path) or carry one (a password, a token in the query); an
// error that quotes it would hand the secret to whoever reads the error
// next: a viewer of the API, the log, the data file.
//
// A URL runs from "http://" or "https://" to the first space, quote or
// angle bracket; its authority ends at the first "/", "?" or "#", and any
// userinfo before its last "@" is dropped, as net/url parses it. One
// punctuation mark closing the URL (as in "https://host/path: 503") is
// kept, so the sentence still reads.
func RedactURLs(text string) string {
	var b strings.Builder
	for {
		start := urlStart(text)
		if start < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:start])
		text = text[start:]
		end := strings.IndexAny(text, " \t\r\n\"'<>`")
		if end < 0 {
			end = len(text)
		}
		url := text[:end]
		text = text[end:]
		scheme := strings.Index(url, "://") + len("://")
		authority := url[scheme:]
		if i := strings.IndexAny(authority, "/?#"); i >= 0 {
			authority = authority[:i]
		}
		rest := url[scheme+len(authority):]
		if i := strings.LastIndexByte(authority, '@'); i >= 0 {
			authority = authority[i+1:]
		}
		b.WriteString(url[:scheme])
		b.WriteString(authority)
		if rest != "" && strings.IndexByte(".,;:!?)", rest[len(rest)-1]) >= 0 {
			b.WriteByte(rest[len(rest)-1])
		}
	}
}

// urlStart returns the index of the first "http://" or "https://" in s,
// in any case, or -1.
func urlStart(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] != 'h' && s[i] != 'H' {
			continue
		}
		for _, scheme := range []string{"http://", "https://"} {
			if len(s)-i >= len(scheme) && strings.EqualFold(s[i:i+len(scheme)], scheme) {
				return i
			}
		}
	}
	return -1
}
