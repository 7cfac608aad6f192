package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"pcr/vserver"
)

// NodeInfo is GET /v1/node: what the node manager runs with and how its
// last pass went.
type NodeInfo struct {
	Pid          int            `json:"pid"`
	Root         string         `json:"root"`
	Started      time.Time      `json:"started"`
	Source       string         `json:"source,omitempty"`
	SourceError  string         `json:"sourceError,omitempty"`
	PolicyFile   string         `json:"policyFile,omitempty"`
	Policy       *Policy        `json:"policy,omitempty"`
	CgroupParent string         `json:"cgroupParent,omitempty"`
	Vservers     map[string]int `json:"vservers"`
	// LastReconcile is when the last full pass ended; LastError its
	// error, empty when it went through.
	LastReconcile time.Time `json:"lastReconcile,omitzero"`
	LastError     string    `json:"lastError,omitempty"`
}

// peer is who is on the other end of a socket connection.
type peer struct {
	uid, gid uint32
	pid      int32
	known    bool
}

type peerKey struct{}

// peerOf reads the connecting process's credentials (SO_PEERCRED): the
// kernel's word, which a client cannot forge.
func peerOf(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var p peer
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			p = peer{uid: cred.Uid, gid: cred.Gid, pid: cred.Pid, known: true}
		}
	})
	return context.WithValue(ctx, peerKey{}, p)
}

// server is the node manager's local API.
type server struct {
	d   *daemon
	log *slog.Logger
}

// httpError is an error with the status it answers.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, action string, h func(*http.Request) (int, any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := authorize(r.Context(), action); err != nil {
				s.log.Warn("api refused", "action", action, "path", r.URL.Path, "reason", err.Error())
				writeError(w, err)
				return
			}
			status, body, err := h(r)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, status, body)
		})
	}
	route("GET /v1/vservers", "list vservers", s.list)
	route("POST /v1/vservers", "create vservers", s.create)
	route("GET /v1/vservers/{slice}", "inspect vservers", s.get)
	route("POST /v1/vservers/{slice}/start", "start vservers", s.lifecycle("start"))
	route("POST /v1/vservers/{slice}/stop", "stop vservers", s.lifecycle("stop"))
	route("POST /v1/vservers/{slice}/restart", "restart vservers", s.lifecycle("restart"))
	route("DELETE /v1/vservers/{slice}", "remove vservers", s.remove)
	route("GET /v1/vservers/{slice}/stats", "read vserver stats", s.stats)
	route("GET /v1/node", "read the node's status", s.node)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &httpError{http.StatusNotFound, fmt.Sprintf("no such API: %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

// authorize lets the node's admin do everything. Slice members get their
// say once the authority names them (issue 7); until then nobody else.
func authorize(ctx context.Context, action string) error {
	p, _ := ctx.Value(peerKey{}).(peer)
	if p.known && p.uid == 0 {
		return nil
	}
	return &httpError{http.StatusForbidden, "permission denied: only the node's admin (root) may " + action}
}

func (s *server) list(*http.Request) (int, any, error) {
	all, err := s.d.mgr.List()
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, all, nil
}

func (s *server) create(r *http.Request) (int, any, error) {
	var spec vserver.Spec
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return 0, nil, &httpError{http.StatusBadRequest, "create vserver: bad request: " + err.Error()}
	}
	if err := spec.Validate(time.Now()); err != nil {
		return 0, nil, &httpError{http.StatusBadRequest, err.Error()}
	}
	var v *vserver.VServer
	err := s.d.rec.exclusive(func() error {
		applied, reason, err := s.d.rec.admit(spec)
		if err != nil {
			if IsRefusal(err) {
				s.log.Warn("api", "action", "refuse", "slice", spec.Slice, "origin", vserver.OriginAdmin, "reason", err.Error())
				return &httpError{http.StatusForbidden, fmt.Sprintf("vserver %s refused: %s", spec.Slice, err)}
			}
			return err
		}
		o := vserver.CreateOptions{Origin: vserver.OriginAdmin, Reason: reason, CgroupParent: s.d.cgroupParent()}
		if applied != spec.Rspec {
			o.Applied = &applied
		}
		if v, err = s.d.mgr.Create(spec, o); err != nil {
			return err
		}
		s.log.Info("api", "action", "create", "slice", spec.Slice, "origin", vserver.OriginAdmin, "reason", cmpOr(reason, "asked by the admin"))
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, v, nil
}

func (s *server) get(r *http.Request) (int, any, error) {
	slice, err := sliceOf(r)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.d.mgr.Get(slice)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

func (s *server) lifecycle(verb string) func(*http.Request) (int, any, error) {
	return func(r *http.Request) (int, any, error) {
		slice, err := sliceOf(r)
		if err != nil {
			return 0, nil, err
		}
		err = s.d.rec.exclusive(func() error {
			switch verb {
			case "start":
				return s.d.mgr.Start(slice)
			case "stop":
				return s.d.mgr.Stop(slice)
			}
			return s.d.mgr.Restart(slice)
		})
		if err != nil {
			return 0, nil, err
		}
		s.log.Info("api", "action", verb, "slice", slice, "reason", "asked by the admin")
		return http.StatusOK, map[string]string{"slice": slice}, nil
	}
}

func (s *server) remove(r *http.Request) (int, any, error) {
	slice, err := sliceOf(r)
	if err != nil {
		return 0, nil, err
	}
	if err := s.d.rec.exclusive(func() error { return s.d.mgr.Remove(slice) }); err != nil {
		return 0, nil, err
	}
	s.log.Info("api", "action", "remove", "slice", slice, "reason", "asked by the admin")
	return http.StatusOK, map[string]string{"slice": slice}, nil
}

func (s *server) stats(r *http.Request) (int, any, error) {
	slice, err := sliceOf(r)
	if err != nil {
		return 0, nil, err
	}
	if _, err := s.d.mgr.Get(slice); err != nil {
		return 0, nil, err
	}
	if h := r.URL.Query().Get("history"); h != "" && h != "0" && h != "false" {
		return http.StatusOK, s.d.smp.kept(slice), nil
	}
	// A fresh reading: `pcr vserver stats` shows now, not up to an
	// interval ago. The sampler's history is for trends and /metrics.
	st, err := s.d.mgr.Stats(slice)
	if err != nil {
		if last, ok := s.d.smp.latest(slice); ok {
			return http.StatusOK, last, nil
		}
		return 0, nil, err
	}
	return http.StatusOK, st, nil
}

func (s *server) node(*http.Request) (int, any, error) {
	return http.StatusOK, s.d.info(), nil
}

func sliceOf(r *http.Request) (string, error) {
	slice := r.PathValue("slice")
	if err := vserver.ValidateSlice(slice); err != nil {
		return "", &httpError{http.StatusBadRequest, err.Error()}
	}
	return slice, nil
}

// statusOf is the HTTP status an error answers.
func statusOf(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.Is(err, vserver.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, vserver.ErrExists):
		return http.StatusConflict
	case IsRefusal(err):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// apiErrorBody is every error's body: one line, as the CLI prints it.
type apiErrorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	writeJSON(w, statusOf(err), apiErrorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
