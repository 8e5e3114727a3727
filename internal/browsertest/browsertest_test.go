package browsertest

import (
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The pages live under a strict policy, as the console does: only scripts
// served from the same origin run, so an inline script is a violation.
const csp = "default-src 'self'"

var pages = map[string]string{
	"/": `<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<title>browsertest</title></head>
<body><button id="b">before</button><script src="/app.js"></script></body></html>`,
	"/app.js": `document.getElementById("b").addEventListener("click", e => {
	e.target.textContent = "after";
});`,
	"/throw": `<!doctype html><html><head><meta charset="utf-8"><title>throw</title></head>
<body><p>throws</p><script src="/throw.js"></script></body></html>`,
	"/throw.js": `throw new Error("x");`,
	"/inline": `<!doctype html><html><head><meta charset="utf-8"><title>inline</title></head>
<body><p id="p">inline</p><script>document.getElementById("p").textContent = "ran";</script></body></html>`,
}

// newServer serves pages, plus /set, which sets a session cookie, and /echo,
// which shows the Cookie header that the browser sent.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "alice", Path: "/", HttpOnly: true})
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("set"))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>echo</title><pre id="cookie">[` + r.Header.Get("Cookie") + `]</pre>`))
	})
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Security-Policy", csp)
		if strings.HasSuffix(r.URL.Path, ".js") {
			w.Header().Set("Content-Type", "text/javascript")
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		w.Write([]byte(body))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func text(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func TestClickAndScreenshot(t *testing.T) {
	srv := newServer(t)
	t.Setenv("DPMON_ARTIFACTS", t.TempDir())
	tab := Start(t)
	console := WatchConsole(t, tab)

	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if got, want := text(t, tab, "#b"), "before"; got != want {
		t.Fatalf("button before click: got %q, want %q", got, want)
	}
	if err := chromedp.Do(tab, chromedp.Click(chromedp.ID("b"))); err != nil {
		t.Fatal(err)
	}
	if got, want := text(t, tab, "#b"), "after"; got != want {
		t.Errorf("button after click: got %q, want %q", got, want)
	}

	Screenshot(t, tab, "browsertest/click")
	file := filepath.Join(ArtifactsDir(), "browsertest_click.png")
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
	if got := img.Bounds().Dx(); got != 1280 {
		t.Errorf("screenshot width: got %d, want 1280", got)
	}

	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("console errors on a clean page: got %q, want none", errs)
	}
}

func TestNewTabHasOwnCookies(t *testing.T) {
	srv := newServer(t)
	alice := Start(t)
	if err := chromedp.Do(alice, chromedp.Navigate(srv.URL+"/set"), chromedp.Navigate(srv.URL+"/echo")); err != nil {
		t.Fatal(err)
	}
	if got, want := text(t, alice, "#cookie"), "[session=alice]"; got != want {
		t.Fatalf("cookie in the first tab: got %q, want %q", got, want)
	}

	bob := NewTab(t, alice)
	if err := chromedp.Do(bob, chromedp.Navigate(srv.URL+"/echo")); err != nil {
		t.Fatal(err)
	}
	if got, want := text(t, bob, "#cookie"), "[]"; got != want {
		t.Errorf("cookie in the new tab: got %q, want %q", got, want)
	}

	// The first tab keeps working next to the second.
	if err := chromedp.Do(alice, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	if got, want := text(t, alice, "#cookie"), "[session=alice]"; got != want {
		t.Errorf("cookie in the first tab after NewTab: got %q, want %q", got, want)
	}
}

func TestConsoleCatchesErrors(t *testing.T) {
	srv := newServer(t)
	tab := Start(t)
	console := WatchConsole(t, tab)

	tests := []struct {
		path string
		want string // in one of the new errors
	}{
		{"/throw", "Error: x"},
		{"/inline", "Content Security Policy"},
	}
	for _, tt := range tests {
		before := len(console.Errors())
		if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+tt.path)); err != nil {
			t.Fatal(err)
		}
		errs := console.Errors()[before:]
		found := false
		for _, e := range errs {
			found = found || strings.Contains(e, tt.want)
		}
		if !found {
			t.Errorf("%s: got errors %q, want one containing %q", tt.path, errs, tt.want)
		}
	}

	if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`console.error("boom", 42)`)); err != nil {
		t.Fatal(err)
	}
	errs := console.Errors()
	if got, want := errs[len(errs)-1], "console.error: boom 42"; got != want {
		t.Errorf("last error: got %q, want %q", got, want)
	}
}

func TestPhone(t *testing.T) {
	srv := newServer(t)
	tab := Start(t)
	Phone(t, tab)
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	width, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if width != 390 {
		t.Errorf("innerWidth: got %d, want 390", width)
	}
}
