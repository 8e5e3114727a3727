package monitor

import "strings"

// Classify decides the class of a bounce. The enhanced status code decides
// where it is unambiguous; otherwise the producer's hint is taken; a bare
// 4xx reply is temporary; anything else is undetermined.
//
// This is the seam for the text-based classifier: it will look at the
// diagnostic first and fall back to this order.
func Classify(b Bounce) BounceClass {
	if c := classByEnhancedStatus(b.EnhancedStatus); c != BounceUnspecified {
		return c
	}
	if b.Class != BounceUnspecified {
		return b.Class
	}
	if b.SMTPCode >= 400 && b.SMTPCode < 500 {
		return BounceSoft
	}
	return BounceUndetermined
}

// enhancedStatusClasses maps RFC 3463 codes (or their class.subject prefix
// followed by a dot) to the class they mean on their own. Codes whose
// meaning depends on the server's wording are absent.
var enhancedStatusClasses = []struct {
	prefix string
	class  BounceClass
}{
	{"5.1.1", BounceHard},  // bad destination mailbox address
	{"5.1.2", BounceHard},  // bad destination system address
	{"5.1.3", BounceHard},  // bad destination mailbox address syntax
	{"5.1.6", BounceHard},  // destination mailbox has moved
	{"5.1.10", BounceHard}, // recipient address has null MX
	{"5.2.1", BounceHard},  // mailbox disabled
	{"5.2.2", BounceSoft},  // mailbox full
	{"5.3.4", BounceSoft},  // message too big for system
	{"5.7.", BounceBlock},  // security or policy status
	{"4.", BounceSoft},     // every persistent transient failure
}

func classByEnhancedStatus(code string) BounceClass {
	for _, e := range enhancedStatusClasses {
		if code == e.prefix || (strings.HasSuffix(e.prefix, ".") && strings.HasPrefix(code, e.prefix)) {
			return e.class
		}
	}
	return BounceUnspecified
}
