package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// configDocs says what each configuration key is, by its path: the
// comments "dpmon config defaults" prints beside the defaults, which the
// README's reference is generated from. A test checks that every key has
// one and that none is left over.
var configDocs = map[string]string{
	"listen":                 "--listen: the gRPC API (beyond loopback only with auth.tokens_file or --insecure)",
	"data_dir":               "--data-dir: the store (dpmon.db) and the dedupe index file",
	"lock_timeout":           "--lock-timeout: how long to wait for another dpmon to let go of data_dir",
	"log_level":              "--log-level: debug, info, warn or error",
	"shutdown_timeout":       "how long a shutdown lets batches, posts and streams in flight finish",
	"max_concurrent_streams": "gRPC streams per connection",
	"max_pending_events":     "events received and not yet committed, over all calls (back-pressure)",
	"metrics_listen":         "--metrics-listen: Prometheus /metrics; off when empty",
	"http_listen":            "--http-listen: the providers' webhooks (/v1/hooks/) and the web console (/ui/); off when empty",
	"lmtp_listen":            "--lmtp-listen: bounce and feedback reports by LMTP (host:port or unix:PATH); off when empty",

	"hooks":                                   "the providers' webhooks; a provider is served only with its secret",
	"hooks.max_body_bytes":                    "a longer post gets 413",
	"hooks.max_concurrent":                    "posts handled at once; more get 503 and are retried",
	"hooks.ses":                               "Amazon SES through SNS",
	"hooks.ses.topic_arns":                    "the topics whose messages are taken; served only when set",
	"hooks.ses.cert_host_pattern":             "hosts SNS signing certificates may come from (matched whole)",
	"hooks.ses.issuer_host_pattern":           "hosts their issuers may come from (AIA)",
	"hooks.ses.account_from":                  "the field naming the account: configuration_set, tag.NAME or header.NAME",
	"hooks.ses.default_account":               "the account of events that name none",
	"hooks.ses.create_accounts":               "let events create the accounts they name (else only default_account)",
	"hooks.sendgrid":                          "SendGrid's signed event webhook",
	"hooks.sendgrid.public_key":               "the verification key SendGrid shows (base64 DER); served only when set",
	"hooks.sendgrid.max_age":                  "how old a signed timestamp may be",
	"hooks.sendgrid.account_from":             "category or custom_args.NAME",
	"hooks.sendgrid.default_account":          "the account of events that name none",
	"hooks.sendgrid.create_accounts":          "let events create the accounts they name",
	"hooks.postmark":                          "Postmark's webhooks, with basic auth",
	"hooks.postmark.username":                 "served only with both username and password",
	"hooks.postmark.password":                 "the basic-auth password set in Postmark (env DPMON_HOOKS_POSTMARK_PASSWORD)",
	"hooks.postmark.account_from":             "server, message_stream, tag or metadata.NAME",
	"hooks.postmark.default_account":          "the account of events that name none",
	"hooks.postmark.create_accounts":          "let events create the accounts they name",
	"hooks.mailgun":                           "Mailgun's signed webhooks",
	"hooks.mailgun.signing_key":               "the webhook signing key (env DPMON_HOOKS_MAILGUN_SIGNING_KEY); served only when set",
	"hooks.mailgun.max_age":                   "how old a signed timestamp may be",
	"hooks.mailgun.account_from":              "tag or user-variables.NAME",
	"hooks.mailgun.default_account":           "the account of events that name none",
	"hooks.mailgun.create_accounts":           "let events create the accounts they name",
	"mail":                                    "reports taken on lmtp_listen",
	"mail.header":                             "the returned message's header that names the account",
	"mail.delayed":                            "count a DSN's delayed recipient as a soft bounce",
	"mail.default_account":                    "the account of reports that name none",
	"mail.create_accounts":                    "let reports create the accounts they name",
	"mail.max_sessions":                       "LMTP connections served at once (0: 32)",
	"limits":                                  "what callers may make the server hold; see \"Limits\"",
	"limits.max_accounts":                     "accounts tracked; 0: no limit",
	"limits.new_accounts_per_minute":          "accounts one credential may create a minute",
	"limits.max_message_bytes":                "one request message",
	"limits.max_decoding_bytes":               "authenticated requests being read and decoded at once",
	"limits.max_connections":                  "connections at once",
	"limits.max_connections_per_peer":         "connections from one address",
	"limits.max_streams_per_peer":             "calls in progress from one address",
	"limits.max_event_streams":                "StreamEvents calls open at once",
	"limits.max_unauthenticated_calls":        "health checks in progress (and as many watches)",
	"limits.max_refusals_per_peer":            "calls without a valid credential from one address a minute, before it is cut off for a minute",
	"schedule":                                "robfig/cron syntax",
	"schedule.evaluate":                       "judge every account (cool-downs, deadlines, windows sliding)",
	"schedule.prune":                          "forget events beyond the dedupe horizon, and what retention no longer keeps",
	"schedule.digest":                         "email the operators what needs them (with notify.smtp and notify.operator_emails)",
	"schedule.reputation":                     "record every account's score of the day (UTC days)",
	"schedule.index":                          "save the dedupe index, so that a start after a crash reads it",
	"events":                                  "how events are taken and kept",
	"events.dedupe_horizon":                   "how long event ids are remembered; longer than the long window",
	"events.max_clock_skew":                   "how far in the future an event may be dated",
	"events.checkpoint_events":                "save the accounts' counts after this many events",
	"events.checkpoint_interval":              "or after this long, whichever comes first",
	"events.dedupe_memory":                    "bound on the dedupe index, e.g. 2GiB (0: none); see \"Durability\"",
	"events.recipient_journal":                "recipient changes kept in memory before they are merged into their tree",
	"retention":                               "how long settled records are kept",
	"retention.notifications":                 "delivered or given up, from delivery (or creation)",
	"retention.tickets":                       "approved or rejected, from closing",
	"retention.audit":                         "from the call recorded",
	"backup":                                  "scheduled snapshots; see \"Operating dpmon\"",
	"backup.dir":                              "where snapshots are written; off when empty",
	"backup.schedule":                         "robfig/cron syntax",
	"backup.keep":                             "the newest this many stay",
	"policy":                                  "the thresholds every account is judged by (overridable per account)",
	"policy.hard_bounce_rate":                 "hard bounces per send",
	"policy.hard_bounce_rate.warn":            "a fraction: 0.02 is 2 %",
	"policy.hard_bounce_rate.suspend":         "a fraction",
	"policy.complaint_rate":                   "complaints per send",
	"policy.complaint_rate.warn":              "a fraction",
	"policy.complaint_rate.suspend":           "a fraction",
	"policy.block_rate":                       "bounces that refused the sender, per send",
	"policy.block_rate.warn":                  "a fraction; 0: off",
	"policy.block_rate.suspend":               "a fraction; 0: off",
	"policy.decision":                         "measured (the rate) or confident (the lower bound of its 95 % interval)",
	"policy.cool_down":                        "how long every rate must stay below warn before a warning clears",
	"policy.probation_period":                 "how long a reinstated account stays on probation",
	"windows":                                 "the rolling windows; the API names each by its length",
	"windows.bucket":                          "the windows slide by this much",
	"windows.short":                           "the short window",
	"windows.short.length":                    "a multiple of the bucket",
	"windows.short.min_sends":                 "below this many sends the window moves no phase",
	"windows.long":                            "the long window",
	"windows.long.length":                     "a multiple of the bucket",
	"windows.long.min_sends":                  "below this many sends the window moves no phase",
	"suppression":                             "per-recipient rules; see \"Per-recipient suppression\"",
	"suppression.provider_domains":            "mailbox providers whose 5.1.1 is believed at once",
	"suppression.hard_bounces":                "hard bounces that suppress an address at other domains ...",
	"suppression.hard_bounce_window":          "... within this long",
	"suppression.first_block":                 "a soft bounce blocks the address this long",
	"suppression.block_growth":                "each further block in a row lasts this many times longer",
	"suppression.max_block":                   "and no longer than this",
	"suppression.permanent_after":             "this many blocks in a row suppress for good",
	"suppression.history_limit":               "changes kept per recipient (0: all)",
	"escalation":                              "unanswered and repeated warnings, repeat offenders",
	"escalation.ack_deadline":                 "a warning unanswered this long suspends (0: off)",
	"escalation.repeated_warnings":            "this many warnings within the window suspend (0: off)",
	"escalation.repeated_warnings_window":     "the window of repeated warnings",
	"escalation.repeat_reinstatements":        "after this many reinstatements within the window ...",
	"escalation.repeat_reinstatements_window": "(the window)",
	"escalation.repeat_approvals":             "... a ticket needs this many different admins",
	"bulk":                                    "the bulk policy per sender address; see \"Bulk policy\"",
	"bulk.enabled":                            "the default of accounts that do not choose",
	"bulk.window":                             "distinct recipients are counted over this window",
	"bulk.base_limit":                         "distinct recipients a sender may mail in the window",
	"bulk.min_limit":                          "the lowest the limit goes",
	"bulk.bounce_weight":                      "how much the sender's bounce share lowers its limit",
	"bulk.share_floor":                        "sends below which the share is taken over this many",
	"bulk.busy_volume":                        "platform sends per window past which every limit is lowered",
	"quota":                                   "sending quotas",
	"quota.reduced_factor":                    "the share of its quotas a warned or probation account keeps",
	"reputation":                              "the 0-100 score; see \"Reputation score\"",
	"reputation.days":                         "the score's window, in days",
	"reputation.alert_below":                  "alert when the score falls below this",
	"reputation.alert_min_sends":              "only with at least this many sends in the window",
	"reputation.engagement":                   "true: the platform reports opens and clicks, and engagement counts",
	"reputation.providers":                    "mailbox providers by recipient domain, for the breakdown",
	"reputation.providers[].name":             "the name the API shows",
	"reputation.providers[].domains":          "its recipient domains",
	"auth":                                    "who may call; see \"Who may call what\"",
	"auth.tokens_file":                        "--tokens: the token file; empty: open, on loopback only",
	"auth.tls_cert":                           "--tls-cert (also for http_listen and metrics_listen)",
	"auth.tls_key":                            "--tls-key",
	"auth.tls_client_ca":                      "--tls-client-ca: verify client certificates (mTLS)",
	"auth.insecure":                           "--insecure: allow an open server beyond loopback",
	"notify":                                  "alerts; see \"Notifications\"",
	"notify.smtp":                             "the mail server alerts go through; off without addr",
	"notify.smtp.addr":                        "host:port",
	"notify.smtp.from":                        "the sender address",
	"notify.smtp.username":                    "for SMTP AUTH",
	"notify.smtp.password_file":               "a file holding the password",
	"notify.smtp.starttls":                    "require STARTTLS",
	"notify.operator_emails":                  "receive what operators lets through, and the digest",
	"notify.operators":                        "what the operators are mailed",
	"notify.operators.kinds":                  "all when empty",
	"notify.operators.min_severity":           "info (all), warning or critical",
	"notify.admins":                           "what an account's admin contacts are mailed",
	"notify.admins.kinds":                     "all when empty",
	"notify.admins.min_severity":              "info (all), warning or critical",
	"notify.webhooks":                         "each {name, url, secret or secret_file, kinds, min_severity}",
	"notify.slack":                            "each {name, url, kinds, min_severity}",
	"notify.retry":                            "delivery retries",
	"notify.retry.first":                      "the first wait; doubled each time",
	"notify.retry.max":                        "the longest wait",
	"notify.retry.give_up_after":              "a notification not delivered by then fails",
	"notify.poll":                             "how often due retries are looked for",
}

// writeConfigDefaults prints the whole configuration with its defaults,
// each key with what it is.
func writeConfigDefaults(w io.Writer) error {
	var doc yaml.Node
	if err := doc.Encode(defaultConfig()); err != nil {
		return err
	}
	keys := map[string]bool{}
	annotate(&doc, "", keys)
	var missing []string
	for k := range keys {
		if configDocs[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("config defaults: no description of %s", strings.Join(missing, ", "))
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return enc.Close()
}

// annotate sets each key's comment from configDocs, notes its path in
// keys, and writes lists of scalars on one line.
func annotate(n *yaml.Node, path string, keys map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			p := key.Value
			if path != "" {
				p = path + "." + key.Value
			}
			doc := configDocs[p]
			keys[p] = true
			annotate(value, p, keys)
			// A comment on a key with a block below it goes above it.
			if value.Kind == yaml.ScalarNode || value.Style == yaml.FlowStyle {
				key.LineComment = doc
			} else {
				key.HeadComment = doc
			}
		}
	case yaml.SequenceNode:
		scalars := true
		for _, item := range n.Content {
			scalars = scalars && item.Kind == yaml.ScalarNode
			annotate(item, path+"[]", keys)
		}
		if scalars {
			n.Style = yaml.FlowStyle
		}
	default:
		for _, c := range n.Content {
			annotate(c, path, keys)
		}
	}
}
