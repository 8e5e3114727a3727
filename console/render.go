package console

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"runtime/debug"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dpmon/dpmon/server"
)

// view is what every page template gets: who is signed in, the session's
// form token, and the page's own data.
type view struct {
	Title string
	// Nav names the menu entry of the page.
	Nav  string
	CSRF string
	id   server.Identity
	// Signed is false on the sign-in page and its errors.
	Signed bool
	Data   any
}

// Who names the signed-in identity.
func (v view) Who() string { return v.id.Name }

// Role is the signed-in identity's role.
func (v view) Role() string { return string(v.id.Role) }

// May reports whether the identity may call an API method, named
// "Service/Method": pages show only the actions it may take (the call
// checks again).
func (v view) May(method string) bool { return v.id.May("/dpmon.v1." + method) }

// Operator reports whether the identity sees beyond its own accounts: the
// platform's figures, notifications. A sender never does.
func (v view) Operator() bool {
	return v.Signed && v.id.May("/dpmon.v1.NotificationService/ListNotifications")
}

// parsePages parses each page with the layout and the partials.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/page_*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/partials.html", name)
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		pages[strings.TrimSuffix(strings.TrimPrefix(path.Base(name), "page_"), ".html")] = t
	}
	return pages, nil
}

// render writes page with data, buffered: a template that fails halfway
// must not leave half a page behind a 200.
func (c *Console) render(w http.ResponseWriter, sess *session, code int, page, title, nav string, data any) {
	v := view{Title: title, Nav: nav, Data: data}
	if sess != nil {
		v.id, v.CSRF, v.Signed = sess.id, sess.csrf, true
	}
	var buf bytes.Buffer
	if err := c.pages[page].Execute(&buf, v); err != nil {
		c.log.Error("console: render", "page", page, "err", err)
		http.Error(w, "the page could not be drawn; the server's log says why", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// Errors of the console itself, before the API is called.
var (
	errCSRF     = status.Error(codes.PermissionDenied, "this form was not sent from this console session: reload the page and try again")
	errBadForm  = status.Error(codes.InvalidArgument, "the form could not be read")
	errNotFound = status.Error(codes.NotFound, "no such page")
	errBadDate  = status.Error(codes.InvalidArgument, "dates are written YYYY-MM-DD")
)

// failure is the error page's data.
type failure struct {
	Status  int
	Message string
	Fields  []*errdetails.BadRequest_FieldViolation
	Back    string
}

// fail answers with the page of err: the API's status mapped to HTTP, its
// message and field violations shown as they would reach a gRPC client.
// Anything unexpected is logged and shown as an internal error.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	st, ok := status.FromError(err)
	if r.Context().Err() != nil {
		return // the browser went away: nobody reads the page
	}
	if !ok {
		c.log.Error("console", "path", r.URL.Path, "err", err)
		st = status.New(codes.Internal, "internal error")
	}
	f := failure{Status: httpStatus(st.Code()), Message: st.Message(), Back: backTo(r)}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			f.Fields = append(f.Fields, br.GetFieldViolations()...)
		}
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(ri.GetRetryDelay().AsDuration().Seconds()))))
		}
	}
	c.render(w, sess, f.Status, "error", http.StatusText(f.Status), "", f)
}

func httpStatus(code codes.Code) int {
	switch code {
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.FailedPrecondition, codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.Unavailable, codes.ResourceExhausted:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// backTo is where the error page links back to: the page a form was
// posted from, else the overview.
func backTo(r *http.Request) string {
	if r.Method == http.MethodPost {
		if i := strings.LastIndexByte(r.URL.Path, '/'); i > len("/ui") {
			return r.URL.Path[:i]
		}
	}
	return "/ui/"
}

// call invokes method's handler as the session's identity, after the
// checks a gRPC call of it passes.
func call[Req, Resp any](r *http.Request, c *Console, sess *session, method string, handler func(context.Context, Req) (Resp, error), req Req) (Resp, error) {
	var resp Resp
	ctx, err := c.api.As(r.Context(), sess.id, method)
	if err != nil {
		return resp, err
	}
	err = recovered(c, func() (err error) {
		resp, err = handler(ctx, req)
		return err
	})
	return resp, err
}

// recovered runs a handler as the gRPC server's recovery would: a panic is
// logged and becomes an internal error, not the end of the process.
func recovered(c *Console, run func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("console: panic in a handler", "panic", p, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error")
		}
	}()
	return run()
}
