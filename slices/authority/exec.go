package authority

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"pcr/slices/api"
	"pcr/slices/ca"
)

const (
	defaultExecTimeout = 30 * time.Second
	maxExecTimeout     = 600 * time.Second
	// jobGrace keeps a job past its deadline long enough for a node that
	// ran it to post its answer.
	jobGrace = 10 * time.Second
)

// execSlice runs a command in the slice's vservers through their nodes:
// it queues a job per node, waits for the answers until the deadline and
// reports a node that did not answer in its result.
func (s *Server) execSlice(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	sctx, cancel := context.WithTimeout(r.Context(), s.storeTimeout)
	defer cancel()
	sl, err := s.sliceFor(r.WithContext(sctx), id)
	if err != nil {
		return err
	}
	var in api.ExecRequest
	if err := decode(w, r, maxBody, &in); err != nil {
		return err
	}
	op := "exec in slice " + sl.Name
	if len(in.Cmd) == 0 {
		return badRequest("%s: no command", op)
	}
	// Checked in seconds before the conversion: a huge count would
	// overflow time.Duration into a short or negative wait.
	timeout := defaultExecTimeout
	switch maxSeconds := int(maxExecTimeout / time.Second); {
	case in.Timeout < 0 || in.Timeout > maxSeconds:
		return badRequest("%s: timeout %ds out of range (1 to %d)", op, in.Timeout, maxSeconds)
	case in.Timeout > 0:
		timeout = time.Duration(in.Timeout) * time.Second
	}
	var targets []string
	switch {
	case in.All && in.Node != "":
		return badRequest("%s: name a node or all, not both", op)
	case in.All:
		targets = slices.Clone(sl.Nodes)
		if len(targets) == 0 {
			return badRequest("%s: the slice has no nodes", op)
		}
	case in.Node != "":
		if !slices.Contains(sl.Nodes, in.Node) {
			return badRequest("%s: node %s is not in the slice", op, in.Node)
		}
		targets = []string{in.Node}
	default:
		return badRequest("%s: name a node or all", op)
	}
	jobID, err := newJobID()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	job := api.ExecJob{ID: jobID, Slice: sl.Name, Cmd: in.Cmd, Deadline: s.now().Add(timeout).UTC(), By: id.String()}
	if err := s.st.PutExecJobs(sctx, targets, job, timeout+jobGrace); err != nil {
		return err
	}
	lctx, lcancel, stopped := longLived(r)
	defer lcancel()
	wctx, wcancel := context.WithTimeout(lctx, timeout)
	defer wcancel()
	got, err := s.st.WaitExecResults(wctx, jobID, targets)
	if err != nil {
		return err
	}
	var silent []string
	out := make([]api.ExecResult, 0, len(targets))
	for _, n := range targets {
		res, ok := got[n]
		if !ok {
			silent = append(silent, n)
			res = api.ExecResult{Node: n, ExitCode: -1, Error: s.silence(r.Context(), n, timeout)}
		}
		out = append(out, res)
	}
	if len(silent) > 0 {
		// A late node must not run what nobody waits for any more.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.storeTimeout)
		defer ccancel()
		if err := s.st.CancelExecJobs(cctx, jobID, silent); err != nil {
			s.log.Warn("cancel exec job", "job", jobID, "nodes", silent, "err", err)
		}
		if stopped() {
			which := "node "
			if len(silent) > 1 {
				which = "nodes "
			}
			return refuse(http.StatusServiceUnavailable, "%s: the authority stopped before %s answered (job %s withdrawn)",
				op, which+strings.Join(silent, ", "), jobID)
		}
	}
	s.log.Info("slice exec", "slice", sl.Name, "job", jobID, "nodes", targets, "silent", silent, "by", id.String())
	writeJSON(w, http.StatusOK, out)
	return nil
}

// silence says why a node gave no answer, with when it was last seen.
func (s *Server) silence(ctx context.Context, node string, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.storeTimeout)
	defer cancel()
	last := "never seen"
	if sn, err := s.st.GetSeen(ctx, node); err == nil {
		last = "last seen " + s.now().Sub(sn.LastSeen).Round(time.Second).String() + " ago"
	}
	return fmt.Sprintf("node %s did not answer within %s (%s)", node, timeout, last)
}

func newJobID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make job id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// execResult is a node's answer to one of its exec jobs.
func (s *Server) execResult(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	name, jobID := r.PathValue("name"), r.PathValue("id")
	if err := requireSelf(id, name, "exec jobs", false); err != nil {
		return err
	}
	rec, err := s.st.GetNode(r.Context(), name)
	if isNotFound(err) {
		return refuse(http.StatusNotFound, "unknown node %s (it was removed)", name)
	} else if err != nil {
		return err
	}
	if err := requireCurrentCert(id, certSerial(r), rec); err != nil {
		return err
	}
	var in api.ExecResult
	if err := decode(w, r, maxResultBody, &in); err != nil {
		return err
	}
	in.Node = name
	in, err = fitResult(in, maxStoredResult)
	if err != nil {
		return refuse(http.StatusRequestEntityTooLarge, "exec result %s of node %s: %v", jobID, name, err)
	}
	if err := s.st.PutExecResult(r.Context(), name, jobID, in); isNotFound(err) {
		return refuse(http.StatusNotFound, "node %s has no exec job %s (answered already, or past its deadline)", name, jobID)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
