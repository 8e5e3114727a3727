package monitor

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Verdict is what Classify decided about a bounce and why.
type Verdict struct {
	Class  BounceClass  // never BounceUnspecified
	Reason BounceReason // never ReasonUnspecified
	// Rule names what decided, so that every verdict can be explained:
	// `text:user-unknown "no such user"`, `status:5.1.1`, `code:552`,
	// `hint` or `none`.
	Rule string
}

// Classify decides the class and reason of a bounce. In order:
//
//  1. the diagnostic text, against the rule table (see rules): the first
//     rule in table order with a phrase in the text decides, because what a
//     server says is more precise than the codes it picked (a "550 5.1.1"
//     that says "blocked using Spamhaus" refuses the sender, not the
//     address);
//  2. the enhanced status code (RFC 3463, RFC 5248 registry);
//  3. the SMTP reply code;
//  4. the weak text rules, generic words like "rejected" that say less than
//     a code but more than nothing;
//  5. otherwise undetermined.
//
// The producer's hint, b.Class, is taken only when there is nothing to
// classify: no text and no codes.
func Classify(b Bounce) Verdict {
	p := ruleIndex.match(b.Diagnostic, codes{notPermanent: notPermanent(b), status: b.EnhancedStatus != ""})
	if p != nil && !p.weak {
		return ruleIndex.verdict(p)
	}
	if v, ok := classifyStatus(b.EnhancedStatus); ok {
		return v
	}
	if v, ok := classifyCode(b.SMTPCode); ok {
		return v
	}
	if p != nil {
		return ruleIndex.verdict(p)
	}
	if b.Class != BounceUnspecified && b.Class.Valid() && b.SMTPCode == 0 && b.EnhancedStatus == "" && b.Diagnostic == "" {
		return Verdict{Class: b.Class, Reason: ReasonUnknown, Rule: "hint"}
	}
	return Verdict{Class: BounceUndetermined, Reason: ReasonUnknown, Rule: "none"}
}

// notPermanent reports whether the codes rule out a permanent failure:
// they call it transient (4xx, 4.x.x), or they are a success (2xx, 2.x.x)
// that a DSN quotes as the remote's last words. The enhanced status is the
// more deliberate of the two, so it decides when both are there.
func notPermanent(b Bounce) bool {
	if s := b.EnhancedStatus; len(s) > 1 && s[1] == '.' && (s[0] == '2' || s[0] == '4' || s[0] == '5') {
		return s[0] != '5'
	}
	return b.SMTPCode >= 200 && b.SMTPCode < 500
}

// classifyStatus reads an enhanced status code like 5.1.1; ok is false when
// the code is malformed, too vague to decide, or a success (2.x.x).
func classifyStatus(s string) (Verdict, bool) {
	if !ValidEnhancedStatus(s) || s[0] == '2' {
		return Verdict{}, false
	}
	detail := s[2:]
	subject := detail
	for i := 0; i < len(detail); i++ {
		if detail[i] == '.' {
			subject = detail[:i]
			break
		}
	}
	m, ok := statusDetails[detail]
	if !ok {
		if m, ok = statusSubjects[subject]; !ok {
			return Verdict{}, false
		}
	}
	class := m.class
	if s[0] == '4' {
		class = BounceSoft // every persistent transient failure, whatever its subject
	}
	if class == BounceUnspecified {
		return Verdict{}, false
	}
	rule, ok := statusRules[s]
	if !ok {
		rule = "status:" + s
	}
	return Verdict{Class: class, Reason: m.reason, Rule: rule}, true
}

// statusRules are the Rule strings of the listed codes, built once so that
// a verdict by status costs no allocation.
var statusRules = func() map[string]string {
	m := make(map[string]string, 2*len(statusDetails))
	for d := range statusDetails {
		m["4."+d] = "status:4." + d
		m["5."+d] = "status:5." + d
	}
	return m
}()

// codeRules are the Rule strings of reply codes, built once so that a
// verdict by code costs no allocation.
var codeRules = func() map[int]string {
	m := make(map[int]string, len(replyCodes))
	for c := range replyCodes {
		m[c] = "code:" + strconv.Itoa(c)
	}
	return m
}()

// classifyCode reads a bare SMTP reply code; any other 4xx is soft.
func classifyCode(code int) (Verdict, bool) {
	if m, ok := replyCodes[code]; ok {
		return Verdict{Class: m.class, Reason: m.reason, Rule: codeRules[code]}, true
	}
	if code >= 400 && code < 500 {
		return Verdict{Class: BounceSoft, Reason: ReasonUnknown, Rule: "code:4xx"}, true
	}
	return Verdict{}, false
}

// maxWordLen bounds the words looked up; no phrase has a longer word, so a
// longer one cannot match and need not be copied.
const maxWordLen = 48

// wordScanner splits a text into the words phrases are made of: runs of
// letters, digits and marks, lower-cased. It drops what is not the server's
// wording: whole chunks holding an address (a local part like
// "does-not-exist@" must not read as "does not exist") and words of digits
// only (reply codes, enhanced codes and IPs repeated inside multi-line
// replies, "550-5.2.1", would split a phrase). Ideographic and kana
// characters, written without spaces, are one word each.
type wordScanner struct {
	text  string
	pos   int    // next byte of text to read
	chunk string // rest of the current chunk
	buf   [maxWordLen]byte
}

// next returns the next word; long is true when it did not fit in the
// buffer, so it matches nothing. ok is false at the end of the text.
func (s *wordScanner) next() (word []byte, long, ok bool) {
	for {
		for len(s.chunk) > 0 {
			word, long, ok = s.word()
			if ok {
				return word, long, true
			}
		}
		if s.pos >= len(s.text) {
			return nil, false, false
		}
		s.chunk = s.nextChunk()
	}
}

// chunkBreaks are the ASCII bytes that end a chunk: space and the marks
// that wrap addresses, so "<jane@example.com>:" leaves "jane@example.com".
var chunkBreaks = [utf8.RuneSelf]bool{' ': true, '\t': true, '\n': true, '\r': true,
	'<': true, '>': true, '(': true, ')': true, '[': true, ']': true, '"': true,
	'\'': true, ',': true, ';': true}

// nextChunk returns the next chunk of text that holds no address.
func (s *wordScanner) nextChunk() string {
	start, at := s.pos, false
	for s.pos < len(s.text) {
		c := s.text[s.pos]
		if c < utf8.RuneSelf {
			if chunkBreaks[c] {
				break
			}
			at = at || c == '@'
			s.pos++
			continue
		}
		r, n := utf8.DecodeRuneInString(s.text[s.pos:])
		if unicode.IsSpace(r) {
			break
		}
		s.pos += n
	}
	chunk := s.text[start:s.pos]
	if s.pos < len(s.text) {
		_, n := utf8.DecodeRuneInString(s.text[s.pos:])
		s.pos += n
	}
	if at {
		return ""
	}
	return chunk
}

// word takes the next word from the current chunk; ok is false when the
// chunk held only separators or digits.
func (s *wordScanner) word() (word []byte, long, ok bool) {
	n, letters := 0, false
	for len(s.chunk) > 0 {
		c := s.chunk[0]
		if c < utf8.RuneSelf {
			switch {
			case 'a' <= c && c <= 'z':
				letters = true
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
				letters = true
			case '0' <= c && c <= '9':
			default:
				s.chunk = s.chunk[1:]
				if n > 0 {
					return s.done(n, letters)
				}
				continue
			}
			if n < len(s.buf) {
				s.buf[n] = c
			}
			n++
			s.chunk = s.chunk[1:]
			continue
		}
		r, size := utf8.DecodeRuneInString(s.chunk)
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
			s.chunk = s.chunk[size:]
			if n > 0 {
				return s.done(n, letters)
			}
			continue
		}
		if unspaced(r) {
			if n > 0 {
				return s.done(n, letters) // the character starts the next word
			}
			s.chunk = s.chunk[size:]
			return s.buf[:utf8.EncodeRune(s.buf[:], r)], false, true
		}
		r = unicode.ToLower(r)
		if n+utf8.RuneLen(r) <= len(s.buf) {
			utf8.EncodeRune(s.buf[n:], r)
		}
		n += utf8.RuneLen(r)
		letters = true
		s.chunk = s.chunk[size:]
	}
	if n > 0 {
		return s.done(n, letters)
	}
	return nil, false, false
}

func (s *wordScanner) done(n int, letters bool) ([]byte, bool, bool) {
	if !letters {
		return nil, false, false // digits only: the caller reads on
	}
	if n > len(s.buf) {
		return nil, true, true
	}
	return s.buf[:n], false, true
}

// unspaced reports whether r belongs to a script written without spaces
// between words: kana, CJK ideographs, Thai.
func unspaced(r rune) bool {
	return r >= 0x3040 && r <= 0x30ff || // hiragana, katakana
		r >= 0x3400 && r <= 0x4dbf || r >= 0x4e00 && r <= 0x9fff || r >= 0xf900 && r <= 0xfaff ||
		r >= 0xff66 && r <= 0xff9f || // half-width katakana
		r >= 0x0e00 && r <= 0x0e7f // Thai
}

// phraseIndex is the rule table compiled for matching: every word of every
// phrase gets a number, and each number lists the phrases that begin with
// it. Matching a text is then one map look-up per word plus a few integer
// comparisons, whatever the size of the table.
type phraseIndex struct {
	words  map[string]int32 // numbered from 1; 0 is any word no phrase has
	starts [][]phraseStart  // by first word, in table order
	rules  []rule           // the strong rules, then the weak ones
}

// phraseStart is one phrase, filed under its first word.
type phraseStart struct {
	rule  int32   // index into rules, so lower wins
	rest  []int32 // the words after the first
	weak  bool
	label string // the Verdict's Rule, built once: `text:name "phrase"`
}

// compile builds the index of the strong rules followed by the weak ones. It
// panics on a phrase with no words or a word too long to match: the table
// is code, and a test that loads the package finds the mistake.
func compile(strong, weak []rule) *phraseIndex {
	x := &phraseIndex{words: map[string]int32{}, starts: [][]phraseStart{nil}}
	x.rules = append(append(x.rules, strong...), weak...)
	for i, r := range x.rules {
		for _, p := range r.phrases {
			var ids []int32
			s := wordScanner{text: p}
			for {
				w, long, ok := s.next()
				if !ok {
					break
				}
				if long {
					panic("monitor: word too long in phrase " + strconv.Quote(p))
				}
				id, seen := x.words[string(w)]
				if !seen {
					id = int32(len(x.starts))
					x.words[string(w)] = id
					x.starts = append(x.starts, nil)
				}
				ids = append(ids, id)
			}
			if len(ids) == 0 {
				panic("monitor: no words in phrase " + strconv.Quote(p))
			}
			x.starts[ids[0]] = append(x.starts[ids[0]], phraseStart{
				rule:  int32(i),
				rest:  ids[1:],
				weak:  i >= len(strong),
				label: "text:" + r.name + " " + strconv.Quote(p),
			})
		}
	}
	return x
}

// match returns the phrase of the first rule in table order found in text,
// or nil. A rule whose condition the codes rule out is skipped.
func (x *phraseIndex) match(text string, c codes) *phraseStart {
	var buf [128]int32 // enough words for a typical reply without allocating
	ids := buf[:0]
	s := wordScanner{text: text}
	for {
		w, long, ok := s.next()
		if !ok {
			break
		}
		var id int32
		if !long {
			id = x.words[string(w)]
		}
		ids = append(ids, id)
	}
	var best *phraseStart
	for i, id := range ids {
		if id == 0 {
			continue
		}
		for j := range x.starts[id] {
			p := &x.starts[id][j]
			if best != nil && p.rule >= best.rule {
				break // starts are in table order: nothing after p can win
			}
			if x.rules[p.rule].when.excludes(c) || !hasPrefix(ids[i+1:], p.rest) {
				continue
			}
			best = p
			break
		}
	}
	return best
}

// verdict turns a matched phrase into a Verdict.
func (x *phraseIndex) verdict(p *phraseStart) Verdict {
	r := &x.rules[p.rule]
	return Verdict{Class: r.class, Reason: r.reason, Rule: p.label}
}

func hasPrefix(ids, prefix []int32) bool {
	if len(ids) < len(prefix) {
		return false
	}
	for i, id := range prefix {
		if ids[i] != id {
			return false
		}
	}
	return true
}
