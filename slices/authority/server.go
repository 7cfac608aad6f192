// Package authority is the slice authority's HTTPS API: users, nodes,
// slices and the per-node assignment streams that node managers follow,
// over mutual TLS with certificates from slices/ca and state in etcd
// (slices/store). Several authority processes may serve one etcd: they
// keep no state of their own.
package authority

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"pcr/slices/api"
	"pcr/slices/ca"
	"pcr/slices/store"
)

// Defaults for Config.
const (
	DefaultStaleness    = 30 * time.Second
	DefaultStoreTimeout = 10 * time.Second
	// certValidity is how long user and node certificates last: there
	// is no revocation, so not longer than a year (ca caps it too).
	certValidity = 365 * 24 * time.Hour
)

// Request body limits: exec results carry up to MaxExecOutput per stream,
// JSON-escaped; everything else is small.
const (
	maxBody       = 1 << 20
	maxResultBody = 16 * api.MaxExecOutput
)

// Config is what a Server runs with.
type Config struct {
	Store *store.Store
	CA    *ca.CA
	// Staleness: a node not seen for longer is "unreachable".
	Staleness time.Duration
	// StoreTimeout bounds a request's store calls, so that a store that
	// lost its quorum answers 503 instead of hanging the caller.
	StoreTimeout time.Duration
	// Now is the clock for expiry and health (tests move it).
	Now func() time.Time
	Log *slog.Logger
}

// Server is the authority's HTTP handler and expiry sweeper.
type Server struct {
	st           *store.Store
	ca           *ca.CA
	staleness    time.Duration
	storeTimeout time.Duration
	now          func() time.Time
	log          *slog.Logger
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.CA == nil {
		return nil, fmt.Errorf("new authority: a store and a CA are needed")
	}
	s := &Server{st: cfg.Store, ca: cfg.CA, staleness: cfg.Staleness, storeTimeout: cfg.StoreTimeout, now: cfg.Now, log: cfg.Log}
	if s.staleness <= 0 {
		s.staleness = DefaultStaleness
	}
	if s.storeTimeout <= 0 {
		s.storeTimeout = DefaultStoreTimeout
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// route is one "METHOD /path" pattern of the API and its handler.
type route struct {
	pattern string
	h       http.HandlerFunc
}

// routes lists the API; slices/api/openapi.yaml describes the same set
// (a test keeps them equal). Every route but POST /v1/join needs a client
// certificate from the authority's CA.
func (s *Server) routes() []route {
	return []route{
		{"POST " + api.PathJoin, s.open(s.join)},

		{"POST " + api.PathUsers, s.authed(s.addUser)},
		{"GET " + api.PathUsers, s.authed(s.listUsers)},

		{"POST " + api.PathNodes, s.authed(s.addNode)},
		{"GET " + api.PathNodes, s.authed(s.listNodes)},
		{"DELETE " + api.PathNodes + "/{name}", s.authed(s.removeNode)},
		{"GET " + api.PathNodes + "/{name}/slivers", s.authedLong(s.slivers)},
		{"POST " + api.PathNodes + "/{name}/report", s.authed(s.report)},
		{"POST " + api.PathNodes + "/{name}/exec/{id}", s.authed(s.execResult)},

		{"POST " + api.PathSlices, s.authed(s.createSlice)},
		{"GET " + api.PathSlices, s.authed(s.listSlices)},
		{"GET " + api.PathSlices + "/{name}", s.authed(s.getSlice)},
		{"DELETE " + api.PathSlices + "/{name}", s.authed(s.deleteSlice)},
		{"POST " + api.PathSlices + "/{name}/renew", s.authed(s.renewSlice)},
		{"POST " + api.PathSlices + "/{name}/nodes", s.authed(s.changeNodes)},
		{"POST " + api.PathSlices + "/{name}/start", s.authed(s.sliceAction(actionStart))},
		{"POST " + api.PathSlices + "/{name}/stop", s.authed(s.sliceAction(actionStop))},
		{"POST " + api.PathSlices + "/{name}/restart", s.authed(s.sliceAction(actionRestart))},
		{"GET " + api.PathSlices + "/{name}/status", s.authed(s.sliceStatus)},
		{"POST " + api.PathSlices + "/{name}/exec", s.authedLong(s.execSlice)},
	}
}

// Handler serves the API; anything else is a JSON 404.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.pattern, rt.h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, refuse(http.StatusNotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Serve serves the API over TLS on ln (the server certificate cert, the
// client certificates checked against the CA) and runs the expiry
// sweeper, until ctx ends; then it stops taking requests, lets those in
// flight finish, ends the watch streams and exec waits, and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	// Requests run on base, which outlives ctx until Shutdown returns, so
	// that a request in flight when the authority is told to stop still
	// completes its store calls. Watch streams and exec waits would hold
	// Shutdown up: they end through stopping, cancelled as it begins.
	base, endRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer endRequests()
	stopping, stop := context.WithCancel(base)
	defer stop()
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         ca.ServerTLS(s.ca, cert),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(base, stoppingKey{}, stopping)
		},
		// TLS handshake refusals (foreign or expired certificates) are
		// routine; they go to the log at debug level.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	srv.RegisterOnShutdown(stop)
	sweepCtx, stopSweeper := context.WithCancel(ctx)
	defer stopSweeper()
	sweeperDone := make(chan struct{})
	go func() {
		defer close(sweeperDone)
		s.RunSweeper(sweepCtx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	stopSweeper()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	if serr := srv.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	endRequests()
	<-sweeperDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("serve authority on %s: %w", ln.Addr(), err)
	}
	return nil
}

// stoppingKey holds, in a request's context, the context Serve cancels
// when it starts to shut down.
type stoppingKey struct{}

// longLived is the context for a request that may outlast a shutdown
// (a watch stream, an exec wait): it ends with the request or when the
// server starts to stop, whichever comes first; the third result says
// whether the server is stopping.
func longLived(r *http.Request) (context.Context, context.CancelFunc, func() bool) {
	ctx, cancel := context.WithCancel(r.Context())
	stopping, ok := r.Context().Value(stoppingKey{}).(context.Context)
	if !ok {
		return ctx, cancel, func() bool { return false }
	}
	unhook := context.AfterFunc(stopping, cancel)
	return ctx, func() { unhook(); cancel() }, func() bool { return stopping.Err() != nil }
}

// handler is a route that knows its caller; open is one that does not.
type (
	handler     func(w http.ResponseWriter, r *http.Request, id ca.Identity) error
	openHandler func(w http.ResponseWriter, r *http.Request) error
)

func (s *Server) open(h openHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.storeTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// authed runs h for a caller with a valid client certificate, with the
// request's store calls bounded by StoreTimeout.
func (s *Server) authed(h handler) http.HandlerFunc {
	return s.authedLong(func(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
		ctx, cancel := context.WithTimeout(r.Context(), s.storeTimeout)
		defer cancel()
		return h(w, r.WithContext(ctx), id)
	})
}

// authedLong is authed for routes that outlive StoreTimeout (watch
// streams, exec waits) and bound their store calls themselves.
func (s *Server) authedLong(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := ca.RequireClient(r)
		if err != nil {
			s.writeError(w, r, refuse(http.StatusUnauthorized, "%s", err))
			return
		}
		if err := h(w, r, id); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// httpError is a refusal with its status and one line for the caller.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func refuse(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return refuse(http.StatusBadRequest, format, args...)
}

func forbidden(format string, args ...any) error {
	return refuse(http.StatusForbidden, format, args...)
}

// statusOf picks the HTTP status for an error from a handler or the store.
func statusOf(err error) int {
	var he *httpError
	var unknown *store.UnknownNodeError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &unknown):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrInvalidName):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	msg := strings.Join(strings.Fields(err.Error()), " ")
	// A caller that went away is no failure of the authority's.
	if status >= 500 && r.Context().Err() == nil {
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", msg)
	}
	writeJSON(w, status, api.Error{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode answer: `+err.Error()+`"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decode reads the JSON body into v, refusing unknown fields (a typo in a
// field name would otherwise be silently ignored) and more than limit
// bytes.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return refuse(http.StatusRequestEntityTooLarge, "request body over %d bytes", tooBig.Limit)
		}
		return badRequest("bad request body: %v", err)
	}
	if dec.More() {
		return badRequest("bad request body: more than one JSON value")
	}
	return nil
}
