package monitor

import "testing"

func TestRedactURLs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"connection refused", "connection refused"},
		{"https://hooks.example.com: 503 Service Unavailable", "https://hooks.example.com: 503 Service Unavailable"},
		{"https://hooks.slack.com/services/T000/B000/XXXXSECRET: 503 Service Unavailable", "https://hooks.slack.com: 503 Service Unavailable"},
		{"http://user:hunter2@127.0.0.1:8080/hook?token=s3cret refused the notification: 400 Bad Request",
			"http://127.0.0.1:8080 refused the notification: 400 Bad Request"},
		// What http.Client.Do returns: the URL quoted.
		{`Post "https://user:***@hooks.example.com/services/T000/B000/XXXXSECRET?token=s3cret": dial tcp 10.0.0.1:443: connect: connection refused`,
			`Post "https://hooks.example.com": dial tcp 10.0.0.1:443: connect: connection refused`},
		{"HTTPS://Hooks.Example.com/Secret", "HTTPS://Hooks.Example.com"},
		{"http://[::1]:9000/x#frag and https://a.example?q=1.", "http://[::1]:9000 and https://a.example."},
		// A password holding "@" (unescaped): the host is after the last.
		{"https://u:p@ss@host.example/x", "https://host.example"},
		{"<https://evil.example/login|Click>", "<https://evil.example>"},
		{"https://", "https://"},
		{"not a URL: ftp://user:pw@host/x", "not a URL: ftp://user:pw@host/x"},
	} {
		if got := RedactURLs(tc.in); got != tc.want {
			t.Errorf("RedactURLs(%q):\n got %q\nwant %q", tc.in, got, tc.want)
		}
		if got := RedactURLs(tc.want); got != tc.want {
			t.Errorf("RedactURLs of the redacted %q changed it to %q", tc.want, got)
		}
	}
}
