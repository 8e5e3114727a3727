package monitor

// rule is one line of the text table: if any of its phrases occurs in a
// diagnostic, the bounce has this class and reason.
//
// A phrase is a sequence of words, matched as whole words, in order and
// next to each other, ignoring case and punctuation: "doesn't exist"
// matches "DOESN'T EXIST." and "doesn’t-exist". Numbers and addresses are
// not words (see wordScanner), so "RFC 5322" and "RFC 2822" are both "rfc".
type rule struct {
	name    string
	class   BounceClass
	reason  BounceReason
	when    condition
	phrases []string
}

// condition says when the codes let a rule decide.
type condition uint8

const (
	always          condition = iota
	unlessTemporary           // only when the codes do not rule out a permanent failure (4xx, 4.x.x, or a 2xx success)
	unlessStatus              // only when there is no enhanced status code, which says more than the SMTP step
)

// codes is what a bounce's codes tell the text rules.
type codes struct {
	notPermanent bool // see notPermanent
	status       bool // an enhanced status code is given
}

// excludes reports whether a rule with condition c may not decide a
// bounce whose codes are k.
func (c condition) excludes(k codes) bool {
	return c == unlessTemporary && k.notPermanent || c == unlessStatus && k.status
}

// ruleIndex is the table compiled once at start-up and never changed.
var ruleIndex = compile(rules, weakRules)

// rules is the text table. The first rule in this order with a phrase in
// the text decides, so specific rules come before general ones:
//
//   - what is not a bounce at all (feedback reports, auto-replies);
//   - refusals of the sender, most precise first (reputation, block lists,
//     content, authentication, TLS, relaying, provider policy codes),
//     because their texts often also mention the recipient or the SMTP
//     step;
//   - temporary conditions of the recipient (greylisting, rate limits,
//     full mailboxes) before the sender refused at connection or MAIL
//     FROM, since those may be said at the same step;
//   - the recipient's address (disabled, moved, no domain, no user);
//   - transient trouble on the way (expiry, network, remote errors);
//   - general words that only say "refused", last.
var rules = []rule{
	{"feedback", BounceUndetermined, ReasonUnknown, always, []string{
		// An RFC 5965 complaint quoted as a bounce: not a delivery failure,
		// whatever it says about SPF or abuse.
		"feedback-type"}},
	{"auto-reply", BounceUndetermined, ReasonAutoReply, always, []string{
		"out of the office", "out of office", "currently out of", "currently away",
		"away from the office", "on vacation", "on holiday", "on annual leave",
		"auto reply", "autoreply", "automatic reply", "auto-response", "upon my return",
		"limited access to email", "abwesenheitsnotiz", "réponse automatique",
		"absent du bureau", "自動応答", "自動返信"}},
	{"cpanel-undeliverable", BounceHard, ReasonUserUnknown, always, []string{
		// cPanel's Exim names every cause it can think of, "blacklisted"
		// among them; the account is the likely one.
		"the account or domain may not exist"}},
	{"reputation", BounceBlock, ReasonBadReputation, always, []string{
		"proofpoint dynamic reputation", "pdr", "cloudmark", "csi blocked",
		"poor reputation", "low reputation", "bad reputation", "ip reputation",
		"sender reputation", "domain reputation", "reputation of the sending",
		"unusual rate of unsolicited", // Gmail 4.7.28 / 5.7.1
		"user complaints",             // Yahoo [TSS04]
		"ts01", "ts02", "ts03", "tss04", "permanently deferred",
		"traffic not accepted from this ip", // Microsoft 5.7.708
		"not accepting mail from this ip",   // Comcast
		"unwanted messages",                 // Outlook SC-004
		"dynamic ip", "blocked for spamming"}},
	{"reverse-dns", BounceBlock, ReasonBadReputation, always, []string{
		"ptr record", "ptr records", "no ptr", "missing ptr", "dns ptr", "ptr resource record",
		"reverse dns", "rdns", "reverse hostname", "reverse lookup",
		"cannot find your hostname", "ip name lookup failed", "forward dns entry",
		"mismatches client ip"}},
	{"blocklist", BounceBlock, ReasonBlocklisted, always, []string{
		"blocked using", "spamhaus", "spamcop", "barracudacentral", "sorbs",
		"uceprotect", "abuseat", "psbl", "dnsbl", "rbl", "rbls", "mailspike",
		"spamrats", "invaluement", "nixspam", "backscatterer", "manitu",
		"blacklisted", "blacklist", "black list", "black listed",
		"blocklisted", "blocklist", "block list", "block listed",
		"banned sending ip", "banned sender", // Microsoft 5.7.606, 5.7.511
		"s3140", "s3150", // Outlook: "part of their network is on our block list"
		"bl21", "bl22", "bl23", // Yahoo
		"bl000000", "bl000001", "block for spam", // Comcast
		"ipcheck proofpoint", "open relay", "blocked for abuse",
		// A greeting that refuses the sending IP: "554 IP=... - A problem
		// occurred. (Ask your postmaster for help or to contact ... to
		// clarify.) (BL)".
		"ask your postmaster for help or to contact"}},
	{"virus", BounceBlock, ReasonVirus, always, []string{
		// Not "virus" alone: scanners stamp "X-Virus-Status: Clean" on
		// what they pass, and bounces quote those headers.
		"virus detected", "viruses detected", "virus found", "virus was found",
		"contains a virus", "contains virus", "infected with", "infected attachment",
		"malware", "malicious", "trojan",
		"content presents a potential", // Gmail 5.7.0 "... security issue"
	}},
	{"spam", BounceBlock, ReasonSpamContent, always, []string{
		"message content rejected", "content rejected", "ube", "spam score",
		"scored as spam", "spam detected", "detected as spam", "identified as spam",
		"classified as spam", "spam classification", "rejected as spam",
		"considered spam", "looks like spam", "likely unsolicited", "unsolicited mail",
		"unsolicited bulk", "uribl", "surbl", "junk mail",
		"junkmail", "content filter",
		"suspicious due to the nature of the content", // Gmail 4.7.0
	}},
	{"non-compliant", BounceBlock, ReasonContentRejected, always, []string{
		"not rfc 5322 compliant", "rfc 5322 compliant", "non-compliant",
		"rfcmessagenoncompliant", "must be rfc 5322", "multiple addresses in from",
		"duplicate header", "header error", "malformed header", "invalid header",
		"bad header", "missing a valid message-id", "improper use of 8-bit data",
		"bare lf", "bare linefeed"}},
	{"auth", BounceBlock, ReasonAuthFailure, always, []string{
		// Not "spf", "dkim" or "dmarc" alone: replies quote passing results
		// too ("User unknown (SPF=pass)").
		"dmarc policy", "dmarc check", "dmarc verification", "dmarc validation",
		"dmarc initiative", "dmarc mechanism", "dmarc fail", "dmarc failed",
		"dmarc failure", "failed dmarc", "dmarc reject", "dmarc rejected",
		"spf record", "spf records", "spf settings", "spf check", "spf fail", "spf failed",
		"spf failure", "spf softfail", "spf validation", "failed spf", "spf policy",
		"spf or dkim", "spf and dkim", "spf dkim", "dkim signature", "dkim check",
		"dkim fail", "dkim failed", "dkim failure", "dkim validation", "failed dkim",
		"invalid dkim", "no valid dkim", "authentication results",
		"sender id", "purported responsible address",
		"unauthenticated", "not authenticated", "authentication required",
		"authrequired", "authentication checks", "authentication information",
		"authenticate with", "must authenticate", "anti-spoofing", "spoofing",
		"spoofed", "invalid ip for sending"}},
	{"tls", BounceBlock, ReasonTLSRequired, always, []string{
		"starttls", "tls required", "requires tls", "require tls", "tls is required",
		"does not support tls", "encryption required", "requiretls",
		"tls negotiation", "secure connection required"}},
	{"relay", BounceBlock, ReasonRelayDenied, always, []string{
		"relay access denied", "relaying denied", "relay denied", "relay not permitted",
		"relaying not permitted", "not permitted to relay", "unable to relay",
		"relay not allowed", "relaying not allowed", "relaying is not allowed",
		"not configured to relay", "we do not relay", "does not relay",
		"insecure mail relay", "allowed rcpthosts", "relay through this server"}},
	{"provider-policy", BounceBlock, ReasonPolicy, always, []string{
		"ph01",                 // Yahoo: email not accepted for policy reasons
		"hm07", "hm08", "cs01", // Apple iCloud: rejected due to local policy
		"envelope blocked", "host network not allowed", // Mimecast
		"email address is not verified", // Amazon SES: unverified sender
	}},
	{"not-permitted-to-post", BounceBlock, ReasonPolicy, always, []string{
		// Mailing lists and groups refusing a sender, in the languages
		// Google Groups writes its notice in.
		"not a member of", "permission to post", "not have permission",
		"投稿する権限", "張貼留言的權限", "nemáte oprávnění", "erforderlichen berechtigungen",
		"δικαίωμα ανάρτησης", "permisos necesarios para publicar", "pas autorisé",
		"не маєте дозволу", "غير مصرح لك", "مجوز لازم برای ارسال", "לך אישור לפרסם",
		"पोस्ट करने की अनुमति"}},
	{"greylisted", BounceSoft, ReasonGreylisted, always, []string{
		"greylisted", "greylisting", "graylisted", "graylisting", "grey listed",
		"gray listed", "come back later"}},
	{"rate-limit", BounceSoft, ReasonRateLimited, always, []string{
		"rate limit", "rate limited", "rate limiting", "ratelimit", "ratelimited",
		"rate exceeded", "too many connections", "too many concurrent",
		"too many sessions", "too many recipients", "too many messages",
		"too many mails", "too many clients", "too many simultaneous",
		"frequency limited", "receiving mail at a rate", "receiving mail too quickly",
		"sending rate", "sending quota", "submission quota", "per hour", "this hour",
		"server busy", "throttled", "throttling", "rl000001", "slow down",
		"maximum number of connections", "connection limit"}},
	{"sender-refused", BounceBlock, ReasonPolicy, always, []string{
		"sender address rejected", "sender rejected", "sender was rejected",
		"my name was rejected", "client host rejected", "helo command rejected",
		"domain of sender address", "sender domain", "sender's domain", "unroutable sender", "sender verify failed",
		"sender verification failed", "sender address has null mx",
		"from domain is invalid", "invalid sender", "sender not allowed",
		"sender is not allowed", "sender denied", "sender blocked",
		"refused to talk to me", // Postfix: the greeting itself was a refusal
		"not accepting connections",
		"send mail as", // Google Workspace: a sending alias it will not relay for
	}},
	{"refused-before-recipient", BounceBlock, ReasonPolicy, unlessTemporary, []string{
		// A permanent refusal before any recipient was named cannot be about
		// the recipient. (A temporary one may be a busy or full server:
		// see refused-at-mail-from.)
		"after initial connection", "after ehlo", "after helo", "after mail from",
		"in reply to mail from command", "in reply to ehlo command",
		"in reply to helo command"}},
	{"mailbox-full", BounceSoft, ReasonMailboxFull, always, []string{
		"mailbox full", "mailbox is full", "mailbox has exceeded", "mailbox exceeded",
		"mailbox exceeds", "mailbox size limit", "mailfolder is full", "inbox is full",
		"full mailbox", "over quota", "overquota", "quota exceeded", "exceeded quota",
		"exceeds quota", "quota exceed", "quota full", "over the allowed quota",
		"out of storage", "storage quota", "insufficient storage",
		"insufficient system storage", "insufficient disk space", "not enough storage",
		"not enough space", "disk full", "system full", "no space left",
		"メールボックスが一杯"}},
	{"too-large", BounceSoft, ReasonMessageTooLarge, always, []string{
		"message too large", "message is too large", "message too big",
		"message is too big", "message size exceeds", "message length exceeds",
		"size exceeds", "size limit exceeded", "exceeds size limit",
		"exceeds the size limit", "exceeds the maximum size", "maximum message size",
		"mail size limit", "too large for this recipient", "recipsizelimit",
		"message exceeds", "larger than the maximum",
		// Lines over RFC 5322's 998 characters: the message's form, not
		// the address.
		"line limit exceeded", "line too long", "lines too long", "line length exceeded"}},
	{"loop", BounceSoft, ReasonMailLoop, always, []string{
		"mail loop", "routing loop", "loops back to myself", "too many hops",
		"hop count exceeded", "maximum hop count", "message is looping",
		"loop detected", "forwarded more than the maximum",
		"duplicated message-id", "duplicate message-id", // list servers refusing what they have seen
	}},
	{"disabled", BounceHard, ReasonMailboxDisabled, always, []string{
		"account that you tried to reach is disabled", // Gmail 5.2.1
		"mailbox disabled", "mailbox is disabled", "account is disabled",
		"account has been disabled", "account disabled", "disabled recipient",
		"disableduser", "account is inactive", "is inactive", "inactive email",
		"inactive account", "inactive user", "inactive mailbox", "mailbox is inactive",
		"account is locked", "account locked", "temporary locked", "temporarily locked",
		"mailbox is frozen", "account is frozen", "account has been suspended",
		"account suspended", "account is suspended", "mailbox suspended",
		"suspended account", "account is blocked", "account has been blocked",
		"account deactivated", "account has been deactivated", "mailbox deactivated",
		"account expired", "account has expired", "no longer active",
		"no longer available", "no longer accepts mail", "disabled or discontinued",
		"discontinued", "unattended mailbox"}},
	{"moved", BounceHard, ReasonHasMoved, always, []string{
		"has moved", "no longer on server", "not our customer", "user not local",
		"address has changed"}},
	{"null-mx", BounceHard, ReasonNotAccepting, always, []string{
		"null mx", "does not accept mail", "doesn't accept mail", "does not receive mail",
		"doesn't receive email", "does not receive email", "accepts no mail",
		"no smtp service", "no mx record", "no mx records", "no mx found",
		"mail exchanger or ip address", "no mail exchanger"}},
	{"dns-temporary", BounceSoft, ReasonNetworkError, always, []string{
		"host not found, try again", "temporary failure in name resolution",
		"dns query failed", "host name lookup failure", "name server timeout",
		"malformed or unexpected name server reply", "lookup timed out", "servfail",
		"dns timeout"}},
	{"host-unknown", BounceHard, ReasonHostUnknown, unlessTemporary, []string{
		// A lookup failure the sender calls temporary is retried; only a
		// permanent one makes the domain unknown.
		"host unknown", "unknown host", "domain not found", "no such domain",
		"domain does not exist", "domain doesn't exist", "invalid domain",
		"unrouteable address", "unroutable address", "illegal host/domain name",
		"couldn't find any host", "host not found", "no such host", "nxdomain",
		"nonexistentdomain", "nonexistent domain", "non-existent domain",
		"non-existent hosts", "domain is not reachable", "unknown domain",
		"domain name not found", "name or service not known"}},
	{"recipient-list-syntax", BounceUndetermined, ReasonUnknown, always, []string{
		// Exim parsing the message's own recipient list ("malformed
		// address: b@x may not follow a@y"): the sender's typing, not a
		// reply about the recipient.
		"malformed address may not follow"}},
	{"bad-syntax", BounceHard, ReasonBadSyntax, always, []string{
		"address syntax", "invalid address format", "malformed address",
		"malformed recipient", "illegal address", "mailbox name not allowed"}},
	{"user-unknown", BounceHard, ReasonUserUnknown, always, []string{
		"the email account that you tried to reach does not exist", // Gmail 5.1.1
		"user unknown", "unknown user", "no such user", "nosuchuser", "no such recipient",
		"no such mailbox", "no such account", "no such address", "no such person",
		"user not found", "recipient not found", "mailbox not found", "address not found",
		"user does not exist", "user doesn't exist", "user not exist", "mailbox does not exist",
		"account does not exist", "address does not exist", "recipient does not exist",
		"user doesn't have a", // Yahoo: "This user doesn't have a yahoo.com account"
		"unknown recipient", "invalid recipient", "recipient unknown", "unknown mailbox",
		"mailbox unknown", "unknown or illegal", "no mailbox here by that name",
		"not listed in domino directory", "not listed in public name",
		"recipient name is not recognized", "recipnotfound", "recipientnotfound",
		"invalid mailbox", "invalid user", "not a valid user", "not a valid mailbox",
		"not a valid recipient", "invalid final delivery userid", "no valid recipients",
		"unknown local part", "unknown local-part", "address couldn't be found",
		"addressee unknown", "bad destination mailbox",
		"wasn't found at", // Microsoft 365: "jane wasn't found at example.com"
		// Microsoft 5.4.1: directory-based edge blocking of unknown users.
		"recipient address rejected: access denied"}},
	{"mailbox-unavailable", BounceHard, ReasonUserUnknown, unlessTemporary, []string{
		// RFC 5321's text for 550; said with 450 it means "busy".
		"mailbox unavailable", "mailbox not available"}},
	{"expired", BounceSoft, ReasonExpired, always, []string{
		"message expired", "envelope expired", "queue expired", "expired",
		"retry timeout exceeded", "queue too long", "been failing for a long time",
		"long failure period", "could not be delivered for", "unable to deliver this message after",
		"delivery failed 30 attempts", // IMail; numbers are not words, so any count
		"after multiple retries", "has been delayed",
		"delivery delayed", "message delayed", "delay in the delivery", "will be retried",
		"will continue trying", "keep trying until", "retry time not reached"}},
	{"network", BounceSoft, ReasonNetworkError, always, []string{
		"connection timed out", "timed out", "timeout", "connection refused",
		"connection reset", "reset by peer", "lost connection", "connection lost",
		"connection dropped", "connection closed", "no route to host",
		"network is unreachable", "network unreachable", "host not reachable",
		"host unreachable", "host is unreachable", "unable to connect",
		"could not connect", "couldn't connect", "failed to connect", "cannot connect",
		"able to establish", "did not accept our requests to connect", "socket error",
		"network error", "broken pipe"}},
	{"system-error", BounceSoft, ReasonSystemError, always, []string{
		"internal system error", "system error", "internal error", "server error",
		"local error in processing", "requested action aborted", "temporary local problem",
		"configuration error", "mailer error", "no such file or directory",
		"write error", "resources temporarily unavailable", "temporarily unavailable",
		"service currently unavailable", "service unavailable", "service not available",
		"unable to contact ldap", "database error", "could not load",
		"could not find a gateway"}},
	{"refused-at-mail-from", BounceBlock, ReasonPolicy, unlessStatus, []string{
		// A temporary refusal of the envelope sender is about the sender,
		// for now, unless a rule above explains it otherwise (a full disk,
		// a busy or failing server, a rate limit) or an enhanced status
		// says more (4.3.0: the server's trouble).
		"after mail from", "in reply to mail from command"}},
	{"policy", BounceBlock, ReasonPolicy, always, []string{
		"policy reasons", "denied by policy", "policy violation", "local policy",
		"policy restrictions", "security policies", "security policy",
		"rejected by policy", "content restrictions", "protocol violation",
		"has a policy that prohibited", "blocked"}},
	{"spam-mentioned", BounceBlock, ReasonSpamContent, always, []string{
		"spam"}},
	{"recipient-rejected", BounceHard, ReasonUserUnknown, always, []string{
		"recipient address rejected", "address rejected", "recipient rejected",
		"recipients was rejected", "recipient was rejected", "does not exist"}},
}

// weakRules are words too general to overrule a code: they decide only when
// neither the enhanced status nor the reply code does.
var weakRules = []rule{
	{"refused", BounceBlock, ReasonPolicy, always, []string{
		"rejected", "refused", "denied", "not allowed", "not accepted", "not authorized",
		"not permitted",
		"community.mimecast.com/docs", // Mimecast's reference for its refusals
	}},
	{"try-later", BounceSoft, ReasonSystemError, always, []string{
		"try again later", "please try later", "try later", "temporary failure",
		"temporarily deferred", "deferred", "しばらくしてから再送信", "再送信を試みましたが"}},
}

// meaning is what a code says on its own. A zero class means the code is
// too vague to decide anything (550 is used for every kind of refusal).
type meaning struct {
	class  BounceClass
	reason BounceReason
}

// statusDetails maps "subject.detail" of an enhanced status code to what it
// means with class 5. With class 4 every code is soft and only the reason is
// taken. Codes not listed fall back to statusSubjects. A zero class decides
// nothing: 5.4.1 is "no answer from host" on paper, but Microsoft answers
// with it to refuse recipients and senders alike.
var statusDetails = map[string]meaning{
	"1.1":  {BounceHard, ReasonUserUnknown},     // bad destination mailbox address
	"1.2":  {BounceHard, ReasonHostUnknown},     // bad destination system address
	"1.3":  {BounceHard, ReasonBadSyntax},       // bad destination mailbox address syntax
	"1.4":  {BounceHard, ReasonUserUnknown},     // destination mailbox address ambiguous
	"1.6":  {BounceHard, ReasonHasMoved},        // destination mailbox has moved
	"1.7":  {BounceBlock, ReasonPolicy},         // bad sender's mailbox address syntax
	"1.8":  {BounceBlock, ReasonPolicy},         // bad sender's system address
	"1.10": {BounceHard, ReasonNotAccepting},    // recipient address has null MX
	"2.1":  {BounceHard, ReasonMailboxDisabled}, // mailbox disabled, not accepting messages
	"2.2":  {BounceSoft, ReasonMailboxFull},     // mailbox full
	"2.3":  {BounceSoft, ReasonMessageTooLarge}, // message length exceeds administrative limit
	"2.4":  {BounceSoft, ReasonSystemError},     // mailing list expansion problem
	"3.1":  {BounceSoft, ReasonMailboxFull},     // mail system full
	"3.4":  {BounceSoft, ReasonMessageTooLarge}, // message too big for system
	"4.1":  {0, ReasonNetworkError},             // no answer from host; see above
	"4.3":  {BounceSoft, ReasonSystemError},     // directory server failure
	"4.4":  {BounceHard, ReasonHostUnknown},     // unable to route: no such domain
	"4.6":  {BounceSoft, ReasonMailLoop},        // routing loop detected
	"4.7":  {BounceSoft, ReasonExpired},         // delivery time expired
	"5.3":  {BounceSoft, ReasonRateLimited},     // too many recipients
	"6.6":  {BounceSoft, ReasonSystemError},     // message content not available
	"7.8":  {BounceBlock, ReasonAuthFailure},    // authentication credentials invalid
	"7.9":  {BounceBlock, ReasonAuthFailure},    // authentication mechanism is too weak
	"7.10": {BounceBlock, ReasonTLSRequired},    // encryption needed
	"7.11": {BounceBlock, ReasonTLSRequired},    // encryption required for the mechanism
	"7.12": {BounceBlock, ReasonAuthFailure},    // a password transition is needed
	"7.13": {BounceHard, ReasonMailboxDisabled}, // user account disabled
	"7.16": {BounceSoft, ReasonMessageTooLarge}, // message too big for specified priority
	"7.17": {BounceHard, ReasonHasMoved},        // mailbox owner has changed
	"7.18": {BounceHard, ReasonHasMoved},        // domain owner has changed
	"7.19": {BounceHard, ReasonHasMoved},        // RRVS test cannot be completed
	"7.20": {BounceBlock, ReasonAuthFailure},    // no passing DKIM signature found
	"7.21": {BounceBlock, ReasonAuthFailure},    // no acceptable DKIM signature found
	"7.22": {BounceBlock, ReasonAuthFailure},    // no valid author-matched DKIM signature
	"7.23": {BounceBlock, ReasonAuthFailure},    // SPF validation failed
	"7.24": {BounceBlock, ReasonAuthFailure},    // SPF validation error
	"7.25": {BounceBlock, ReasonBadReputation},  // reverse DNS validation failed
	"7.26": {BounceBlock, ReasonAuthFailure},    // multiple authentication checks failed
	"7.27": {BounceBlock, ReasonPolicy},         // the sender's domain has a null MX
	"7.28": {BounceSoft, ReasonRateLimited},     // mail flood detected
	"7.29": {BounceBlock, ReasonAuthFailure},    // ARC validation failure
	"7.30": {BounceBlock, ReasonTLSRequired},    // REQUIRETLS support required
}

// statusSubjects is what a code means when its detail is not listed: the
// subject alone is clear for system (3), network (4), content (6) and
// security (7) codes. Address (1), mailbox (2) and protocol (5) codes need
// their detail, so with class 5 they decide nothing.
var statusSubjects = map[string]meaning{
	"0": {0, ReasonUnknown},
	"1": {0, ReasonUnknown},
	"2": {0, ReasonUnknown},
	"3": {BounceSoft, ReasonSystemError},
	"4": {BounceSoft, ReasonNetworkError},
	"5": {0, ReasonUnknown},
	"6": {BounceBlock, ReasonContentRejected},
	"7": {BounceBlock, ReasonPolicy},
}

// replyCodes says what a bare SMTP reply code means (RFC 5321, RFC 7504).
// 550 and 554 are absent on purpose: servers use them for unknown users,
// blocks and policy alike, so they decide nothing and the hint may speak.
var replyCodes = map[int]meaning{
	421: {BounceSoft, ReasonNetworkError}, // service not available, closing channel
	450: {BounceSoft, ReasonUnknown},      // mailbox unavailable: busy, or blocked for now
	451: {BounceSoft, ReasonSystemError},  // local error in processing
	452: {BounceSoft, ReasonMailboxFull},  // insufficient system storage
	521: {BounceHard, ReasonNotAccepting}, // host does not accept mail
	530: {BounceBlock, ReasonAuthFailure}, // authentication required
	534: {BounceBlock, ReasonAuthFailure}, // authentication mechanism too weak
	535: {BounceBlock, ReasonAuthFailure}, // authentication credentials invalid
	538: {BounceBlock, ReasonTLSRequired}, // encryption required
	551: {BounceHard, ReasonHasMoved},     // user not local
	552: {BounceSoft, ReasonMailboxFull},  // exceeded storage allocation
	553: {BounceHard, ReasonBadSyntax},    // mailbox name not allowed
	556: {BounceHard, ReasonNotAccepting}, // domain does not accept mail
}
