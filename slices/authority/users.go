package authority

import (
	"errors"
	"net/http"

	"pcr/slices/api"
	"pcr/slices/ca"
	"pcr/slices/store"
)

// addUser records a user (and its site) and signs the CSR the user made
// with its own key. The certificate is made first: a bad CSR or name
// leaves nothing stored.
func (s *Server) addUser(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	if err := requireAdmin(id, "add users"); err != nil {
		return err
	}
	var in api.AddUser
	if err := decode(w, r, maxBody, &in); err != nil {
		return err
	}
	role, err := ca.ParseRole(in.Role)
	if err != nil {
		return badRequest("add user %s: %v", in.Name, err)
	}
	if role == ca.RoleNode {
		return badRequest("add user %s: role node is for nodes: add them with POST %s", in.Name, api.PathNodes)
	}
	cert, err := s.ca.Issue(ca.Identity{Name: in.Name, Site: in.Site, Role: role}, []byte(in.CSR), certValidity)
	if err != nil {
		return badRequest("add user %s: %v", in.Name, err)
	}
	err = s.st.CreateUser(r.Context(), api.User{Name: in.Name, Role: string(role), Site: in.Site, Created: s.now().UTC()})
	if errors.Is(err, store.ErrExists) {
		return refuse(http.StatusConflict, "user %s exists", in.Name)
	}
	if err != nil {
		return err
	}
	s.log.Info("user added", "user", in.Name, "role", role, "site", in.Site, "by", id.String())
	writeJSON(w, http.StatusCreated, api.Issued{Certificate: string(cert), CA: string(s.ca.CertPEM())})
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	if err := requireAdmin(id, "list users"); err != nil {
		return err
	}
	users, err := s.st.ListUsers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, users)
	return nil
}
