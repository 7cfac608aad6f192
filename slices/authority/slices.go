package authority

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"pcr/rspec"
	"pcr/slices/api"
	"pcr/slices/ca"
	"pcr/slices/store"
)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// createSlice checks everything before storing anything: name, caller,
// image, rspec, owners, nodes and expiry.
func (s *Server) createSlice(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	var in api.CreateSlice
	if err := decode(w, r, maxBody, &in); err != nil {
		return err
	}
	if err := rspec.ValidateSlice(in.Name); err != nil {
		return badRequest("%v", err)
	}
	site := rspec.SiteOf(in.Name)
	if err := mayCreateSlices(id, site); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.st.GetSlice(ctx, in.Name); err == nil {
		return refuse(http.StatusConflict, "slice %s exists", in.Name)
	} else if !isNotFound(err) {
		return err
	}
	fail := func(err error) error { return wrapRefusal("create slice "+in.Name, err) }
	if in.Image == "" {
		return fail(badRequest("no image"))
	}
	if err := in.Rspec.Validate(); err != nil {
		return fail(badRequest("%v", err))
	}
	if err := s.checkOwners(ctx, site, in.Owners); err != nil {
		return fail(err)
	}
	if err := s.checkNodes(ctx, in.Name, in.Image, in.Rspec, in.Nodes); err != nil {
		return fail(err)
	}
	now := s.now()
	expires, err := checkExpiry(in.Expires, now)
	if err != nil {
		return fail(err)
	}
	nodes := in.Nodes
	if nodes == nil {
		nodes = []string{}
	}
	sl, err := s.st.CreateSlice(ctx, api.Slice{
		Name: in.Name, Site: site, Owners: in.Owners, Image: in.Image, Rspec: in.Rspec,
		Nodes: nodes, Expires: expires, Created: now.UTC(), CreatedBy: id.Name,
	})
	if errors.Is(err, store.ErrExists) {
		return refuse(http.StatusConflict, "slice %s exists", in.Name)
	}
	if err != nil {
		return err
	}
	s.log.Info("slice created", "slice", sl.Name, "nodes", sl.Nodes, "vni", sl.Network.VNI, "by", id.String())
	writeJSON(w, http.StatusCreated, sl)
	return nil
}

// wrapRefusal prefixes a refusal's line with the operation, keeping its
// status.
func wrapRefusal(op string, err error) error {
	var he *httpError
	if errors.As(err, &he) {
		return &httpError{status: he.status, msg: op + ": " + he.msg}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (s *Server) listSlices(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	all, _, err := s.st.ListSlices(r.Context())
	if err != nil {
		return err
	}
	out := make([]api.Slice, 0, len(all))
	for i := range all {
		if maySee(id, &all[i]) {
			out = append(out, all[i])
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// sliceFor reads the slice named in the path and checks that the caller
// may act on it.
func (s *Server) sliceFor(r *http.Request, id ca.Identity) (*api.Slice, error) {
	name := r.PathValue("name")
	sl, err := s.st.GetSlice(r.Context(), name)
	if isNotFound(err) {
		return nil, refuse(http.StatusNotFound, "no slice %s", name)
	}
	if err != nil {
		return nil, err
	}
	if err := mayActOn(id, sl); err != nil {
		return nil, err
	}
	return sl, nil
}

// updateSlice applies fn to the slice in the path; a slice deleted
// meanwhile is a 404.
func (s *Server) updateSlice(r *http.Request, name string, fn func(*api.Slice) error) (*api.Slice, error) {
	sl, err := s.st.UpdateSlice(r.Context(), name, fn)
	if isNotFound(err) {
		return nil, refuse(http.StatusNotFound, "no slice %s", name)
	}
	return sl, err
}

func (s *Server) getSlice(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	sl, err := s.sliceFor(r, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sl)
	return nil
}

func (s *Server) deleteSlice(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	sl, err := s.sliceFor(r, id)
	if err != nil {
		return err
	}
	if err := s.st.DeleteSlice(r.Context(), sl.Name); isNotFound(err) {
		return refuse(http.StatusNotFound, "no slice %s", sl.Name)
	} else if err != nil {
		return err
	}
	s.log.Info("slice deleted", "slice", sl.Name, "by", id.String())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) renewSlice(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	sl, err := s.sliceFor(r, id)
	if err != nil {
		return err
	}
	var in api.Renew
	if err := decode(w, r, maxBody, &in); err != nil {
		return err
	}
	expires, err := checkExpiry(in.Expires, s.now())
	if err != nil {
		return wrapRefusal("renew slice "+sl.Name, err)
	}
	out, err := s.updateSlice(r, sl.Name, func(sl *api.Slice) error {
		sl.Expires = expires
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("slice renewed", "slice", sl.Name, "expires", stamp(expires), "by", id.String())
	writeJSON(w, http.StatusOK, out)
	return nil
}

// changeNodes adds and removes nodes; added ones pass the same checks as
// at creation, against the slice's image and rspec.
func (s *Server) changeNodes(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	sl, err := s.sliceFor(r, id)
	if err != nil {
		return err
	}
	var in api.ChangeNodes
	if err := decode(w, r, maxBody, &in); err != nil {
		return err
	}
	op := "change nodes of slice " + sl.Name
	for _, n := range in.Remove {
		if slices.Contains(in.Add, n) {
			return badRequest("%s: node %s is both added and removed", op, n)
		}
		if !slices.Contains(sl.Nodes, n) {
			return badRequest("%s: node %s is not in the slice", op, n)
		}
	}
	for _, n := range in.Add {
		if slices.Contains(sl.Nodes, n) {
			return badRequest("%s: node %s is already in the slice", op, n)
		}
	}
	if err := s.checkNodes(r.Context(), sl.Name, sl.Image, sl.Rspec, in.Add); err != nil {
		return wrapRefusal(op, err)
	}
	out, err := s.updateSlice(r, sl.Name, func(sl *api.Slice) error {
		sl.Nodes = slices.DeleteFunc(sl.Nodes, func(n string) bool { return slices.Contains(in.Remove, n) })
		for _, n := range in.Add {
			if !slices.Contains(sl.Nodes, n) {
				sl.Nodes = append(sl.Nodes, n)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("slice nodes changed", "slice", sl.Name, "added", in.Add, "removed", in.Remove, "by", id.String())
	writeJSON(w, http.StatusOK, out)
	return nil
}

type sliceActionKind int

const (
	actionStart sliceActionKind = iota
	actionStop
	actionRestart
)

// sliceAction starts, stops or restarts every vserver of a slice: the
// nodes act on the changed fields through their assignment.
func (s *Server) sliceAction(kind sliceActionKind) handler {
	return func(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
		sl, err := s.sliceFor(r, id)
		if err != nil {
			return err
		}
		out, err := s.updateSlice(r, sl.Name, func(sl *api.Slice) error {
			switch kind {
			case actionStart:
				sl.Stopped = false
			case actionStop:
				sl.Stopped = true
			case actionRestart:
				sl.Stopped = false
				sl.RestartGeneration++
			}
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}
