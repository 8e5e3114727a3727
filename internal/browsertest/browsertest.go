// Package browsertest drives a real headless Chromium for end-to-end tests of
// the web console. It exists so that those tests share one way to start the
// browser, isolate users, keep screenshots and catch script errors, and so
// that a hung browser fails a test instead of hanging CI.
//
// A test starts a browser with Start, opens more users with NewTab, and runs
// chromedp actions on the returned contexts:
//
//	tab := browsertest.Start(t)
//	console := browsertest.WatchConsole(t, tab)
//	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL)); err != nil {
//		t.Fatal(err)
//	}
//	browsertest.Screenshot(t, tab, "login")
//	if errs := console.Errors(); len(errs) > 0 {
//		t.Errorf("console errors: %q", errs)
//	}
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Timeout bounds each tab context that Start and NewTab return. It is
// generous because a loaded CI runner with two cores and the race detector is
// slow, but finite so that a hung page or browser fails the test with a
// deadline error instead of waiting for the go test timeout. The browser
// process of Start lives only as long as its first tab, so Timeout also bounds
// the whole browser and every tab opened in it.
const Timeout = 5 * time.Minute

// closeTimeout bounds the graceful close of the browser in the cleanup of
// Start; after it the process is killed.
const closeTimeout = 10 * time.Second

// Start starts a headless Chromium and returns a chromedp context for its
// first tab, with a 1280x900 window and a deadline of Timeout. The browser
// gets a fresh profile under t.TempDir, so no cookies or storage leak between
// tests. The cleanup closes the tab and the browser and waits for Chromium to
// exit, before t.TempDir removes the profile.
//
// When Chromium is missing, Start installs it with apt-get if the test runs as
// root, and fails the test otherwise. It never skips: a console test that
// silently does not run is worse than one that fails.
func Start(t testing.TB) context.Context {
	t.Helper()
	path := chromiumPath(t)
	// Chromium now and then dies as it starts on a loaded machine (seen
	// here with several test packages running at once): a start is tried
	// again before the test fails.
	var err error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		var tab context.Context
		if tab, err = start(t, path); err == nil {
			return tab
		}
		t.Logf("browsertest: start %d of %d failed: %v", attempt, startAttempts, err)
	}
	t.Fatalf("browsertest: starting %s: %v", path, err)
	return nil
}

// startAttempts is how many times Start tries to start Chromium.
const startAttempts = 3

// start starts Chromium once; its cleanup is registered whether or not it
// came up.
func start(t testing.TB, path string) (context.Context, error) {
	profile := t.TempDir() // created before our cleanup, so removed after it

	// Chromium's output is noise while it works; keep it for the failure message.
	var output lockedBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(&output),
		// Listed even where chromedp's defaults have them, so that this list
		// alone says how the browser runs. The network of CI is closed, so
		// background requests (updates, sync, QUIC probes) can only fail or
		// hang; turn them off.
		chromedp.Headless,
		chromedp.NoSandbox, // containers run tests as root, where the sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	// The first Run binds the browser process to this context, so the
	// deadline covers the browser as well as the tab.
	tab, cancelTimeout := context.WithTimeout(browserCtx, Timeout)
	t.Cleanup(func() {
		// A graceful close lets Chromium stop its helper processes, which a
		// kill can leave behind writing into the profile.
		if tab.Err() == nil {
			ctx, cancel := context.WithTimeout(tab, closeTimeout)
			if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("browsertest: closing Chromium: %v", err)
			}
			cancel()
		}
		cancelTimeout()
		cancelBrowser() // waits for the process to exit
		cancelAlloc()
	})

	if err := chromedp.Do(tab); err != nil {
		return nil, fmt.Errorf("%w\nChromium output:\n%s", err, output.String())
	}
	return tab, nil
}

// NewTab opens another tab in the browser of a context from Start, with a
// deadline of Timeout, and closes it on cleanup.
//
// The tab lives in a new browser context, Chromium's name for an incognito-like
// profile: it has its own cookie jar, storage and cache. That is what lets a
// test sign in a second user next to the first; a plain second tab would share
// the first user's session cookie.
func NewTab(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	// WithNewBrowserContext panics on a context without a running browser.
	if c := chromedp.FromContext(browser); c == nil || c.Browser == nil {
		t.Fatalf("browsertest: NewTab needs a context from Start")
	}
	ctx, cancelTab := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	tab, cancelTimeout := context.WithTimeout(ctx, Timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab() // closes the tab and disposes of its browser context
	})
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("browsertest: opening a tab: %v", err)
	}
	return tab
}

// Phone makes the tab emulate a phone in portrait: a 390x844 viewport, the
// size of common current phones, with mobile layout and touch. Only pages with
// <meta name="viewport" content="width=device-width"> lay out at 390 CSS
// pixels; others get the 980-pixel desktop fallback, as on a real phone.
func Phone(t testing.TB, tab context.Context) {
	t.Helper()
	err := chromedp.Do(tab, chromedp.EmulateViewport(390, 844,
		chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	if err != nil {
		t.Fatalf("browsertest: emulating a phone: %v", err)
	}
}

// Screenshot saves a full-page PNG of the tab as name.png in the artifacts
// directory, so that a failed console test in CI leaves something to look at.
// The directory is $DPMON_ARTIFACTS, or dpmon-artifacts in the system
// temporary directory; CI uploads it. Slashes in name, as in t.Name() of a
// subtest, become underscores.
func Screenshot(t testing.TB, tab context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100)) // quality 100 means PNG
	if err != nil {
		t.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	dir := ArtifactsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	file := filepath.Join(dir, strings.NewReplacer("/", "_", `\`, "_").Replace(name)+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	t.Logf("browsertest: screenshot %s", file)
}

// ArtifactsDir returns the directory where Screenshot saves its files.
func ArtifactsDir() string {
	if dir := os.Getenv("DPMON_ARTIFACTS"); dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), "dpmon-artifacts")
}

// Console collects the errors that a tab reports: uncaught exceptions,
// console.error calls, and error entries of the browser log, which is where
// Content-Security-Policy violations and failed resource loads appear.
// Tests assert that Errors is empty after their steps. Headless Chromium
// fetches /favicon.ico after each page load, and a 404 there is an error like
// any other, so the server under test must serve one.
type Console struct {
	mu     sync.Mutex
	errors []string
}

// WatchConsole starts collecting the errors of the tab. Call it before the
// navigation it should watch; it sees events until the tab closes.
func WatchConsole(t testing.TB, tab context.Context) *Console {
	t.Helper()
	c := &Console{}
	// Listen, unlike chromedp.Console, calls c.record before the command that
	// follows the event returns, so Errors is complete when an action is.
	if err := chromedp.Listen(tab, c.record); err != nil {
		t.Fatalf("browsertest: watching the console: %v", err)
	}
	return c
}

// Errors returns the errors collected so far, oldest first.
func (c *Console) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errors...)
}

// record runs in the tab's message loop, so it only formats and appends.
func (c *Console) record(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = exceptionText(ev.ExceptionDetails)
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		args := make([]string, len(ev.Args))
		for i, a := range ev.Args {
			args[i] = objectText(a)
		}
		msg = "console.error: " + strings.Join(args, " ")
	case *log.EventEntryAdded:
		e := ev.Entry
		if e == nil || e.Level != log.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("%s: %s", e.Source, e.Text)
		if e.URL != "" {
			msg += fmt.Sprintf(" (%s:%d)", e.URL, e.LineNumber+1)
		}
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors = append(c.errors, msg)
}

// exceptionText prefers the exception's description, which holds the message
// and the stack, over the bare "Uncaught" of d.Text.
func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "exception"
	}
	text := d.Text
	if d.Exception != nil {
		text += " " + objectText(d.Exception)
	}
	if d.URL != "" {
		text += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
	}
	return text
}

// objectText renders a console argument about as DevTools shows it.
func objectText(o *runtime.RemoteObject) string {
	switch {
	case o == nil:
		return ""
	case o.Type == runtime.RemoteObjectTypeString && len(o.Value) > 0:
		var s string
		if err := json.Unmarshal(o.Value, &s); err != nil {
			return string(o.Value)
		}
		return s
	case o.Description != "":
		return o.Description
	case len(o.Value) > 0:
		return string(o.Value)
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	default:
		return string(o.Type)
	}
}

// chromiumPath returns the Chromium binary, installing it first when that is
// possible.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if path, err := lookChromium(); err == nil {
		return path
	}
	if os.Geteuid() != 0 {
		t.Fatalf("browsertest: Chromium not found at /usr/bin/chromium or on PATH; install it with `sudo apt-get install -y chromium` (Debian) or put a chromium binary on PATH")
	}
	if err := installChromium(); err != nil {
		t.Fatalf("browsertest: installing Chromium: %v", err)
	}
	path, err := lookChromium()
	if err != nil {
		t.Fatalf("browsertest: Chromium installed but not found: %v", err)
	}
	return path
}

func lookChromium() (string, error) {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return exec.LookPath("chromium")
}

// installChromium installs Debian's package at most once per test binary:
// the package database is machine-wide state, and parallel tests must not
// race each other into apt's lock. It is the package's only global.
var installChromium = sync.OnceValue(func() error {
	if err := aptGet("install", "-y", "chromium"); err == nil {
		return nil
	}
	// A fresh container has no package lists yet.
	if err := aptGet("update"); err != nil {
		return err
	}
	return aptGet("install", "-y", "chromium")
})

// aptGet runs apt-get, waiting for a lock that another install holds rather
// than failing, and returns its output on failure.
func aptGet(args ...string) error {
	args = append([]string{"-o", "DPkg::Lock::Timeout=600"}, args...)
	cmd := exec.Command("apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// lockedBuffer is a bytes.Buffer that Chromium's output goroutine and the
// test goroutine can share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
