package monitor

import (
	"strconv"
	"strings"
	"testing"

	"github.com/dpmon/dpmon/monitor/monitortest"
)

// classifyCase is a bounce and the verdict wanted; rule, when set, is the
// Rule wanted too.
type classifyCase struct {
	name   string
	b      Bounce
	class  BounceClass
	reason BounceReason
	rule   string
}

func checkCases(t *testing.T, cases []classifyCase) {
	t.Helper()
	for _, c := range cases {
		got := Classify(c.b)
		if got.Class != c.class || got.Reason != c.reason {
			t.Errorf("%s: got %s/%s (%s), want %s/%s", c.name, className(got.Class), got.Reason, got.Rule, className(c.class), c.reason)
		}
		if c.rule != "" && got.Rule != c.rule {
			t.Errorf("%s: got rule %s, want %s", c.name, got.Rule, c.rule)
		}
	}
}

// reply is a bounce with a reply code, an enhanced status and a text.
func reply(code int, status, text string) Bounce {
	return Bounce{SMTPCode: code, EnhancedStatus: status, Diagnostic: text}
}

func TestClassifyHard(t *testing.T) {
	checkCases(t, []classifyCase{
		{"postfix", reply(550, "5.1.1", "550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown in virtual mailbox table"), BounceHard, ReasonUserUnknown, `text:user-unknown "user unknown"`},
		{"passing authentication quoted", reply(550, "5.1.1", "550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown (SPF=pass, DKIM=pass)"), BounceHard, ReasonUserUnknown, ""},
		{"gmail", reply(550, "5.1.1", "550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser a1si2 - gsmtp"), BounceHard, ReasonUserUnknown, `text:user-unknown "the email account that you tried to reach does not exist"`},
		{"gmail disabled", reply(550, "5.2.1", "550-5.2.1 The email account that you tried to reach is disabled. https://support.google.com/mail/?p=DisabledUser"), BounceHard, ReasonMailboxDisabled, ""},
		{"outlook", reply(550, "5.5.0", "550 5.5.0 Requested action not taken: mailbox unavailable."), BounceHard, ReasonUserUnknown, ""},
		{"outlook resolver", reply(550, "5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient jane@contoso.example not found by SMTP address lookup"), BounceHard, ReasonUserUnknown, ""},
		{"microsoft edge", reply(550, "5.4.1", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [BN1NAM02FT011.eop-nam02.prod.protection.outlook.com]"), BounceHard, ReasonUserUnknown, ""},
		{"yahoo", reply(554, "", "554 delivery error: dd This user doesn't have a yahoo.com account (jane@yahoo.com) [0] - mta1234.mail.bf1.yahoo.com"), BounceHard, ReasonUserUnknown, ""},
		{"yahoo disabled", reply(554, "", "554 30 Sorry, your message to jane@yahoo.com cannot be delivered. This mailbox is disabled (554.30)."), BounceHard, ReasonMailboxDisabled, ""},
		{"icloud", reply(550, "5.1.1", "550 5.1.1 <jane@icloud.com>: inactive email address"), BounceHard, ReasonMailboxDisabled, ""},
		{"gmx", reply(550, "", "550 Mailbox disabled for this recipient - mx.gmx.net"), BounceHard, ReasonMailboxDisabled, ""},
		{"exim", reply(550, "", `550 unknown local-part "jane" in domain "example.com"`), BounceHard, ReasonUserUnknown, ""},
		{"exim unrouteable", reply(0, "", "Unrouteable address"), BounceHard, ReasonHostUnknown, ""},
		{"qmail", reply(0, "", "Sorry, no mailbox here by that name. (#5.1.1)"), BounceHard, ReasonUserUnknown, ""},
		{"domino", reply(0, "", "User jane (jane@example.com) not listed in Domino Directory"), BounceHard, ReasonUserUnknown, ""},
		{"exchange 2003", reply(0, "", "The recipient name is not recognized"), BounceHard, ReasonUserUnknown, ""},
		{"sendmail", reply(550, "5.1.2", "550 5.1.2 <jane@nowhere.example>... Host unknown (Name server: nowhere.example: host not found)"), BounceHard, ReasonHostUnknown, ""},
		{"null mx", reply(556, "5.1.10", "556 5.1.10 Recipient address has null MX"), BounceHard, ReasonNotAccepting, ""},
		{"syntax", reply(553, "5.1.3", "553 5.1.3 Bad recipient address syntax"), BounceHard, ReasonBadSyntax, ""},
		{"moved", reply(551, "5.1.6", "551 5.1.6 User has moved; please try <jane@new.example>"), BounceHard, ReasonHasMoved, ""},
		{"microsoft 365 notice", reply(0, "", "Your message to jane@contoso.example couldn't be delivered. jane wasn't found at contoso.example."), BounceHard, ReasonUserUnknown, ""},
		{"laposte", reply(550, "5.5.0", "550 5.5.0 Le compte du destinataire est bloque. The recipient account is blocked."), BounceHard, ReasonMailboxDisabled, ""},
	})
}

func TestClassifySoft(t *testing.T) {
	checkCases(t, []classifyCase{
		{"gmail over quota", reply(452, "4.2.2", "452-4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp"), BounceSoft, ReasonMailboxFull, ""},
		{"gmail too quickly", reply(450, "4.2.1", "450-4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time."), BounceSoft, ReasonRateLimited, ""},
		{"gmail rate, text over 5.2.1", reply(550, "5.2.1", "550-5.2.1 The user you are trying to contact is receiving mail at a rate that 550-5.2.1 prevents additional messages from being delivered."), BounceSoft, ReasonRateLimited, ""},
		{"greylisting", reply(450, "4.2.0", "450 4.2.0 <jane@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html"), BounceSoft, ReasonGreylisted, ""},
		{"connections", reply(421, "4.7.0", "421 4.7.0 mx.example.com Too many connections from your IP, slow down"), BounceSoft, ReasonRateLimited, ""},
		{"comcast", reply(421, "", "421 resimta-po-12v.sys.comcast.net comcast 203.0.113.9 Comcast RL000001 Too many sessions open. Please try again later"), BounceSoft, ReasonRateLimited, ""},
		{"microsoft busy", reply(451, "4.7.500", "451 4.7.500 Server busy. Please try again later from [203.0.113.9]. (S77714)"), BounceSoft, ReasonRateLimited, ""},
		{"timeout", reply(0, "4.4.1", "connect to mx.example.com[192.0.2.1]:25: Connection timed out"), BounceSoft, ReasonNetworkError, ""},
		{"dns for now", reply(0, "", "Host or domain name not found. Name service error for name=example.com type=MX: Host not found, try again"), BounceSoft, ReasonNetworkError, ""},
		{"nxdomain said to be temporary", reply(451, "4.4.0", "451 4.4.0 DNS lookup of example.invalid failed: NXDOMAIN"), BounceSoft, ReasonNetworkError, "status:4.4.0"},
		{"exim expired", reply(0, "", "retry timeout exceeded"), BounceSoft, ReasonExpired, ""},
		{"too large", reply(552, "5.3.4", "552 5.3.4 Message size exceeds fixed limit"), BounceSoft, ReasonMessageTooLarge, ""},
		{"hops", reply(554, "5.4.6", "554 5.4.6 Too many hops"), BounceSoft, ReasonMailLoop, ""},
		{"postfix loop", reply(0, "5.4.6", "mail for example.com loops back to myself"), BounceSoft, ReasonMailLoop, ""},
		{"gmx local error", reply(451, "", "451 Requested action aborted: local error in processing"), BounceSoft, ReasonSystemError, ""},
		{"system storage", reply(452, "4.3.1", "452 4.3.1 Insufficient system storage"), BounceSoft, ReasonMailboxFull, ""},
		{"japanese carrier", reply(0, "", "送信先のメールボックスが一杯のため、送信できませんでした。"), BounceSoft, ReasonMailboxFull, ""},
	})
}

func TestClassifyBlock(t *testing.T) {
	checkCases(t, []classifyCase{
		{"spamhaus, text over 5.1.1", reply(550, "5.1.1", "550 5.1.1 <jane@example.com>: Client host [203.0.113.9] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.9"), BounceBlock, ReasonBlocklisted, `text:blocklist "blocked using"`},
		{"outlook banned ip", reply(550, "5.7.606", "550 5.7.606 Access denied, banned sending IP [203.0.113.9]. To request removal from this list please visit https://sender.office.com/"), BounceBlock, ReasonBlocklisted, ""},
		{"outlook s3150", reply(550, "5.7.1", "550 5.7.1 Unfortunately, messages from [203.0.113.9] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150)."), BounceBlock, ReasonBlocklisted, ""},
		{"outlook spamhaus", reply(550, "5.7.1", "550 5.7.1 Service unavailable, Client host [203.0.113.9] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/203.0.113.9 (AS3130)."), BounceBlock, ReasonBlocklisted, ""},
		{"outlook reputation", reply(550, "5.7.708", "550 5.7.708 Access denied, traffic not accepted from this IP."), BounceBlock, ReasonBadReputation, ""},
		{"gmail rate of unsolicited, over 4xx", reply(421, "4.7.0", "421-4.7.0 [203.0.113.9 15] Our system has detected an unusual rate of 421-4.7.0 unsolicited mail originating from your IP address."), BounceBlock, ReasonBadReputation, ""},
		{"gmail spam", reply(550, "5.7.1", "550-5.7.1 Gmail has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked."), BounceBlock, ReasonSpamContent, ""},
		{"gmail rfc", reply(550, "5.7.1", "550-5.7.1 This message is not RFC 5322 compliant. There are multiple Subject headers."), BounceBlock, ReasonContentRejected, ""},
		{"gmail dmarc", reply(550, "5.7.26", "550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy."), BounceBlock, ReasonAuthFailure, ""},
		{"gmail spf dkim", reply(550, "5.7.26", "550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM."), BounceBlock, ReasonAuthFailure, ""},
		{"gmail ptr", reply(550, "5.7.25", "550-5.7.25 The IP address sending this message does not have a PTR record setup"), BounceBlock, ReasonBadReputation, ""},
		{"proofpoint", reply(554, "5.7.0", "554 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=203.0.113.9"), BounceBlock, ReasonBlocklisted, ""},
		{"proofpoint pdr", reply(521, "", "521 Service unavailable; client [203.0.113.9] blocked using Proofpoint Dynamic Reputation (pdr)"), BounceBlock, ReasonBadReputation, ""},
		{"mimecast spoofing", reply(550, "", "550 Rejected by header based Anti-Spoofing policy: jane@example.com - https://community.mimecast.com/docs/DOC-1369#550 [ab.us1]"), BounceBlock, ReasonAuthFailure, ""},
		{"mimecast envelope", reply(550, "", "550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550"), BounceBlock, ReasonPolicy, ""},
		{"cloudmark", reply(554, "5.7.1", "554 5.7.1 Service refused: 203.0.113.9 is CSI blocked. See https://csi.cloudmark.com/reset-request"), BounceBlock, ReasonBadReputation, ""},
		{"comcast block", reply(554, "", "554 resimta-ch2-12v.sys.comcast.net comcast 203.0.113.9 Comcast BL000000 Comcast block for spam. Please see http://postmaster.comcast.net/smtp-error-codes.php#BL000000"), BounceBlock, ReasonBlocklisted, ""},
		{"comcast ip", reply(554, "", "554 comcast Not accepting mail from this IP"), BounceBlock, ReasonBadReputation, ""},
		{"icloud", reply(554, "5.7.1", "554 5.7.1 [HM08] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137"), BounceBlock, ReasonPolicy, `text:provider-policy "hm08"`},
		{"yahoo", reply(554, "5.7.9", "554 5.7.9 [PH01] Email not accepted for policy reasons. Please visit https://postmaster.yahooinc.com/error-codes"), BounceBlock, ReasonPolicy, ""},
		{"yahoo tss04", reply(421, "4.7.0", "421 4.7.0 [TSS04] Messages from 203.0.113.9 temporarily deferred due to unexpected volume or user complaints"), BounceBlock, ReasonBadReputation, ""},
		{"relay", reply(554, "5.7.1", "554 5.7.1 <jane@example.org>: Relay access denied"), BounceBlock, ReasonRelayDenied, ""},
		{"tls", reply(530, "5.7.0", "530 5.7.0 Must issue a STARTTLS command first"), BounceBlock, ReasonTLSRequired, ""},
		{"virus", reply(554, "5.7.1", "554 5.7.1 Message rejected: virus detected (Eicar-Test-Signature)"), BounceBlock, ReasonVirus, ""},
		{"postfix ptr", reply(450, "4.7.1", "450 4.7.1 Client host rejected: cannot find your hostname, [203.0.113.9]"), BounceBlock, ReasonBadReputation, ""},
		{"at mail from", reply(550, "", "SMTP error from remote mail server after MAIL FROM:<news@acme.example> SIZE=4096: 550 Administrative prohibition"), BounceBlock, ReasonPolicy, ""},
		{"at greeting", reply(554, "5.7.1", "host mx.example.com[192.0.2.1] refused to talk to me: 554 5.7.1 Go away"), BounceBlock, ReasonPolicy, ""},
		{"sender domain", reply(550, "5.7.1", "550 5.7.1 Sender domain does not exist"), BounceBlock, ReasonPolicy, ""},
		{"group", reply(0, "", "Sie haben nicht die erforderlichen Berechtigungen, um Nachrichten an diese Gruppe zu senden."), BounceBlock, ReasonPolicy, ""},
	})
}

// TestClassifyWhereTheStepOrAgentSpeaks covers texts whose words would
// mislead without the context they give: the SMTP step, the delivery
// agent, the form of the message.
func TestClassifyWhereTheStepOrAgentSpeaks(t *testing.T) {
	checkCases(t, []classifyCase{
		{"temporary refusal at MAIL FROM", reply(451, "", "SMTP error from remote mail server after MAIL FROM:<news@shop.example>: 451 sending host not verified"),
			BounceBlock, ReasonPolicy, `text:refused-at-mail-from "after mail from"`},
		{"temporary refusal at the greeting", reply(421, "", "SMTP error from remote mail server after initial connection: 421 please come again"),
			BounceSoft, ReasonNetworkError, "code:421"},
		{"full disk at MAIL FROM", reply(452, "4.3.1", "host mx.example.net said: 452 4.3.1 Insufficient system storage (in reply to MAIL FROM command)"),
			BounceSoft, ReasonMailboxFull, `text:mailbox-full "insufficient system storage"`},
		{"failing server at MAIL FROM", reply(451, "4.3.0", "451 4.3.0 Temporary local problem (in reply to MAIL FROM command)"),
			BounceSoft, ReasonSystemError, `text:system-error "temporary local problem"`},
		{"permanent refusal at MAIL FROM", reply(550, "", "550 mailbox unavailable (in reply to MAIL FROM command)"),
			BounceBlock, ReasonPolicy, `text:refused-before-recipient "in reply to mail from command"`},
		// The delivery command exited "no such user" (EX_NOUSER), and said so.
		{"pipe command output", reply(0, "5.1.1", "user unknown. Command output: User doesn't exist: jane"),
			BounceHard, ReasonUserUnknown, `text:user-unknown "user unknown"`},
		{"temporary trouble at MAIL FROM, with a status", reply(421, "4.3.0", "421 4.3.0 Temporary System Problem. Try again later (in reply to MAIL FROM command)"),
			BounceSoft, ReasonSystemError, "status:4.3.0"},
		{"a success quoted at MAIL FROM", reply(250, "2.1.0", "250 2.1.0 Sender OK (in reply to MAIL FROM command)"),
			BounceUndetermined, ReasonUnknown, "none"},
		{"a success quoted with a busy word", reply(250, "2.0.0", "250 2.0.0 Ok: mailbox unavailable"),
			BounceUndetermined, ReasonUnknown, "none"},
		{"the sending IP refused at the greeting", reply(554, "", "host mx.example.net refused to talk to me: 554 IP=192.0.2.7 - A problem occurred. (Ask your postmaster for help or to contact abuse@example.net to clarify.) (BL)"),
			BounceBlock, ReasonBlocklisted, `text:blocklist "ask your postmaster for help or to contact"`},
		{"long lines", reply(500, "", "SMTP error after end of data: 500 line too long, see RFC 5322"),
			BounceSoft, ReasonMessageTooLarge, `text:too-large "line too long"`},
		{"list saw it already", reply(0, "", "Duplicate Message-ID in <list@lists.example.org>, dropped"),
			BounceSoft, ReasonMailLoop, `text:loop "duplicate message-id"`},
		{"no gateway", reply(0, "", "Routing: could not find a gateway for jane@example.net"),
			BounceSoft, ReasonSystemError, `text:system-error "could not find a gateway"`},
		{"send mail as", reply(0, "", "The settings for your 'Send mail as' address are out of date; check them and resend."),
			BounceBlock, ReasonPolicy, `text:sender-refused "send mail as"`},
	})
}

func TestClassifyUndetermined(t *testing.T) {
	checkCases(t, []classifyCase{
		{"vacation", reply(0, "", "I am out of the office until Monday and will reply upon my return."), BounceUndetermined, ReasonAutoReply, ""},
		{"feedback", reply(0, "", "Feedback-Type: abuse; the message failed SPF and DKIM"), BounceUndetermined, ReasonUnknown, `text:feedback "feedback-type"`},
		{"nothing", Bounce{}, BounceUndetermined, ReasonUnknown, "none"},
		{"delivered", reply(250, "2.0.0", "250 2.0.0 OK queued"), BounceUndetermined, ReasonUnknown, "none"},
		{"bare 550", reply(550, "", ""), BounceUndetermined, ReasonUnknown, "none"},
		// 2.1.5 would read as "user unknown" if its class were ignored.
		{"2.1.5 success", reply(0, "2.1.5", ""), BounceUndetermined, ReasonUnknown, "none"},
		{"exim recipient list", reply(0, "", "ann@example.org: malformed address: <bob@example.org> may not follow <ann@example.org>"),
			BounceUndetermined, ReasonUnknown, `text:recipient-list-syntax "malformed address may not follow"`},
		{"5.4.1 alone", reply(0, "5.4.1", ""), BounceUndetermined, ReasonUnknown, "none"},
	})
}

// TestClassifyCodes covers bounces whose text says nothing a rule knows.
func TestClassifyCodes(t *testing.T) {
	checkCases(t, []classifyCase{
		{"5.1.1", reply(550, "5.1.1", "550 5.1.1 see https://example.com/why"), BounceHard, ReasonUserUnknown, "status:5.1.1"},
		{"5.1.10", reply(0, "5.1.10", ""), BounceHard, ReasonNotAccepting, "status:5.1.10"},
		{"5.2.1", reply(0, "5.2.1", ""), BounceHard, ReasonMailboxDisabled, ""},
		{"5.2.2", reply(0, "5.2.2", ""), BounceSoft, ReasonMailboxFull, ""},
		{"5.3.4", reply(0, "5.3.4", ""), BounceSoft, ReasonMessageTooLarge, ""},
		{"5.4.6", reply(0, "5.4.6", ""), BounceSoft, ReasonMailLoop, ""},
		{"5.7.1", reply(554, "5.7.1", ""), BounceBlock, ReasonPolicy, "status:5.7.1"},
		{"5.7.26", reply(0, "5.7.26", ""), BounceBlock, ReasonAuthFailure, ""},
		{"5.7.13", reply(0, "5.7.13", ""), BounceHard, ReasonMailboxDisabled, ""},
		{"5.7.x unlisted", reply(0, "5.7.650", ""), BounceBlock, ReasonPolicy, "status:5.7.650"},
		{"4.4.7", reply(0, "4.4.7", ""), BounceSoft, ReasonExpired, ""},
		{"4.7.1", reply(451, "4.7.1", ""), BounceSoft, ReasonPolicy, "status:4.7.1"},
		{"4.1.1 is soft", reply(450, "4.1.1", ""), BounceSoft, ReasonUserUnknown, ""},
		{"421", reply(421, "", ""), BounceSoft, ReasonNetworkError, "code:421"},
		{"450", reply(450, "", ""), BounceSoft, ReasonUnknown, "code:450"},
		{"other 4xx", reply(471, "", ""), BounceSoft, ReasonUnknown, "code:4xx"},
		{"552", reply(552, "", ""), BounceSoft, ReasonMailboxFull, "code:552"},
		{"553", reply(553, "", ""), BounceHard, ReasonBadSyntax, "code:553"},
		{"554", reply(554, "", ""), BounceUndetermined, ReasonUnknown, "none"},
		{"malformed status", reply(552, "5.1", ""), BounceSoft, ReasonMailboxFull, "code:552"},
		{"status beats code", reply(550, "4.4.7", ""), BounceSoft, ReasonExpired, "status:4.4.7"},
	})
}

// TestClassifyFallbacks checks the order after the strong text rules: codes,
// then weak words; the hint only when there is nothing to classify.
func TestClassifyFallbacks(t *testing.T) {
	hinted := func(b Bounce, c BounceClass) Bounce { b.Class = c; return b }
	checkCases(t, []classifyCase{
		{"weak word", reply(550, "", "550 Message rejected"), BounceBlock, ReasonPolicy, `text:refused "rejected"`},
		{"code over weak word", reply(550, "5.1.1", "550 5.1.1 Recipient refused"), BounceHard, ReasonUserUnknown, "status:5.1.1"},
		{"mimecast reference", reply(550, "", "550 Administrative prohibition - https://community.mimecast.com/docs/DOC-1369#550"), BounceBlock, ReasonPolicy, ""},
		{"weak word over hint", hinted(reply(0, "", "rejected"), BounceHard), BounceBlock, ReasonPolicy, ""},
		{"hint with nothing to classify", hinted(reply(0, "", ""), BounceHard), BounceHard, ReasonUnknown, "hint"},
		{"a reply nothing decides, hint ignored", hinted(reply(550, "", "550 see https://example.com/why"), BounceHard), BounceUndetermined, ReasonUnknown, "none"},
		{"code over hint", hinted(reply(0, "5.7.1", ""), BounceHard), BounceBlock, ReasonPolicy, "status:5.7.1"},
		{"strong text over hint", hinted(reply(0, "", "mailbox full"), BounceHard), BounceSoft, ReasonMailboxFull, ""},
		{"invalid hint", hinted(reply(0, "", ""), 9), BounceUndetermined, ReasonUnknown, "none"},
		{"user-unknown at permanent host-unknown", reply(550, "", "550 Host unknown"), BounceHard, ReasonHostUnknown, ""},
		{"mailbox unavailable, busy", reply(450, "4.2.1", "450 4.2.1 Requested mail action not taken: mailbox unavailable"), BounceSoft, ReasonMailboxDisabled, "status:4.2.1"},
	})
}

// TestClassifyReadsOnlyTheWording checks what the scanner leaves out: an
// address ("user-unknown@...") and numbers inside multi-line replies.
func TestClassifyReadsOnlyTheWording(t *testing.T) {
	checkCases(t, []classifyCase{
		{"address", reply(421, "4.4.7", "421 4.4.7 <user-unknown@example.com>... Deferred: Connection timed out"), BounceSoft, ReasonNetworkError, ""},
		{"continuation", reply(550, "5.7.1", "550-5.7.1 Messages with multiple 550 5.7.1 addresses in From: header are not accepted."), BounceBlock, ReasonContentRejected, ""},
	})
}

func TestClassifierWordScanner(t *testing.T) {
	s := wordScanner{text: "550-5.1.1 <no-such-user@example.com>: Recipient DOESN'T exist (#5.1.1); 日本 Größe " + strings.Repeat("x", maxWordLen+1)}
	var got []string
	for {
		w, long, ok := s.next()
		if !ok {
			break
		}
		if long {
			w = []byte("<long>")
		}
		got = append(got, string(w))
	}
	want := []string{"recipient", "doesn", "t", "exist", "日", "本", "größe", "<long>"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestClassifierEveryPhraseDecides finds phrases that can never decide because an
// earlier rule's phrase is part of them: alone in a diagnostic, without
// codes or with a temporary one (for a rule behind one that takes only
// permanent failures), each phrase must be decided by its own rule.
func TestClassifierEveryPhraseDecides(t *testing.T) {
	names := map[string]bool{}
	for _, r := range ruleIndex.rules {
		if names[r.name] {
			t.Errorf("rule name %q used twice", r.name)
		}
		names[r.name] = true
		if r.class == BounceUnspecified || !r.class.Valid() || r.reason == ReasonUnspecified || !r.reason.Valid() {
			t.Errorf("rule %s: class %d, reason %d", r.name, r.class, r.reason)
		}
		for _, p := range r.phrases {
			want := "text:" + r.name + " "
			got := Classify(Bounce{Diagnostic: p})
			if !strings.HasPrefix(got.Rule, want) {
				got = Classify(Bounce{Diagnostic: p, SMTPCode: 451})
			}
			if !strings.HasPrefix(got.Rule, want) {
				t.Errorf("phrase %q of rule %s: got %s, want %s...", p, r.name, got.Rule, want)
			}
		}
	}
}

func TestBounceReasonString(t *testing.T) {
	for r := ReasonUnspecified; r.Valid(); r++ {
		if s := r.String(); s == "" || strings.ToLower(s) != s {
			t.Errorf("BounceReason(%d).String() = %q, want lower-case words", r, s)
		}
	}
	if got, want := ReasonMailboxFull.String(), "mailbox full"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := BounceReason(26).String(), "BounceReason(26)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if ReasonNotAccepting != 25 || !ReasonNotAccepting.Valid() || BounceReason(26).Valid() {
		t.Errorf("got last reason %d, want 25 and the next invalid", ReasonNotAccepting)
	}
}

func FuzzClassify(f *testing.F) {
	f.Add(550, "5.1.1", "550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown", uint8(0))
	f.Add(421, "4.7.0", "421-4.7.0 [TSS04] Messages from 203.0.113.9 temporarily deferred", uint8(2))
	f.Add(0, "", "送信先のメールボックスが一杯", uint8(0))
	f.Add(554, "5.", "\xff<@>Ä"+strings.Repeat("a", 100), uint8(200))
	f.Fuzz(func(t *testing.T, code int, status, text string, hint uint8) {
		v := Classify(Bounce{SMTPCode: code, EnhancedStatus: status, Diagnostic: text, Class: BounceClass(hint)})
		if v.Class == BounceUnspecified || !v.Class.Valid() {
			t.Errorf("got class %d, want a valid class other than unspecified", v.Class)
		}
		if v.Reason == ReasonUnspecified || !v.Reason.Valid() {
			t.Errorf("got reason %d, want a valid reason other than unspecified", v.Reason)
		}
		if v.Rule == "" {
			t.Error("got an empty rule, want the rule that decided")
		}
	})
}

// benchReplies are typical replies, 100 to 300 bytes, deciding at various
// depths of the table.
var benchReplies = []Bounce{
	reply(550, "5.1.1", "host mx.example.com[192.0.2.10] said: 550 5.1.1 <jane.doe@example.com>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)"),
	reply(550, "5.1.1", "550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser x12si345 - gsmtp"),
	reply(552, "5.2.2", "552-5.2.2 The recipient's inbox is out of storage space. Please direct the recipient to 552 5.2.2 https://support.google.com/mail/?p=OverQuotaPerm y7si99 - gsmtp"),
	reply(421, "4.7.0", "421 4.7.0 [TSS04] Messages from 203.0.113.9 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes"),
	reply(550, "5.7.1", "550 5.7.1 Service unavailable, Client host [203.0.113.9] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/203.0.113.9 (AS3130) [BN8NAM12FT041.eop-nam12.prod.protection.outlook.com]"),
	reply(550, "5.7.26", "550-5.7.26 Unauthenticated email from example.com is not accepted due to 550-5.7.26 domain's DMARC policy. Please contact the administrator of example.com domain if this was a legitimate mail. z2si158 - gsmtp"),
	reply(0, "4.4.1", "connect to mx.example.net[198.51.100.7]:25: Connection timed out"),
	reply(554, "", "554 Sorry, your message cannot be delivered at this time. Reference 8f2a-11 (mta07.example.org)"),
}

func BenchmarkClassify(b *testing.B) {
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		Classify(benchReplies[n%len(benchReplies)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "classifications/s")
}

// TestCorpus classifies real server replies and compares the class with the
// corpus label, listing every disagreement to read.
func TestCorpus(t *testing.T) {
	rows := monitortest.BounceCorpus(t)
	agree := 0
	for _, r := range rows {
		got := Classify(Bounce{SMTPCode: r.Code, EnhancedStatus: r.Status, Diagnostic: r.Diagnostic})
		if className(got.Class) == r.Class {
			agree++
			continue
		}
		text := []rune(r.Diagnostic)
		if len(text) > 120 {
			text = append(text[:120], '…')
		}
		t.Logf("%s: got %s, want %s (%s) %s", r.ID, className(got.Class), r.Class, got.Rule, string(text))
	}
	share := float64(agree) / float64(len(rows))
	t.Logf("agreement: %d of %d rows, %.1f%%", agree, len(rows), 100*share)
	if share < monitortest.MinCorpusAgreement {
		t.Errorf("agreement %.1f%%, want at least %.0f%%", 100*share, 100*monitortest.MinCorpusAgreement)
	}
}

func className(c BounceClass) string {
	switch c {
	case BounceHard:
		return "HARD"
	case BounceSoft:
		return "SOFT"
	case BounceBlock:
		return "BLOCK"
	case BounceUndetermined:
		return "UNDETERMINED"
	}
	return "BounceClass(" + strconv.Itoa(int(c)) + ")"
}
