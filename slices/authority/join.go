package authority

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"

	"pcr/slices/api"
	"pcr/slices/ca"
	"pcr/slices/store"
)

// errTokenUsed ends the token-consuming update when another join won.
var errTokenUsed = errors.New("join token already used")

// join trades a node's one-time token for its certificate: the token is
// checked against the stored hash, the CSR signed, and only then the
// token consumed, in a compare-and-swap so that two joins racing with one
// token cannot both get a certificate.
func (s *Server) join(w http.ResponseWriter, r *http.Request) error {
	var in api.Join
	if err := decode(w, r, maxBody, &in); err != nil {
		return err
	}
	node, err := ca.TokenNode(in.Token)
	if err != nil {
		return refuse(http.StatusUnauthorized, "join refused: %v", err)
	}
	rec, err := s.st.GetNode(r.Context(), node)
	if errors.Is(err, store.ErrNotFound) {
		return refuse(http.StatusUnauthorized, "join refused: no node %s was added (an admin adds it and hands out its token)", node)
	}
	if err != nil {
		return err
	}
	if rec.TokenHash == "" {
		return refuse(http.StatusUnauthorized, "join refused: node %s has already joined (for a new token, an admin removes and adds it again)", node)
	}
	if !ca.CheckJoinToken(in.Token, rec.TokenHash) {
		return refuse(http.StatusUnauthorized, "join refused: wrong token for node %s", node)
	}
	cert, err := s.ca.Issue(ca.Identity{Name: node, Role: ca.RoleNode}, []byte(in.CSR), certValidity)
	if err != nil {
		return badRequest("join node %s: %v", node, err)
	}
	serial, err := serialOfPEM(cert)
	if err != nil {
		return fmt.Errorf("join node %s: %w", node, err)
	}
	_, err = s.st.UpdateNode(r.Context(), node, func(rec *store.NodeRecord) error {
		if rec.TokenHash == "" || !ca.CheckJoinToken(in.Token, rec.TokenHash) {
			return errTokenUsed
		}
		rec.TokenHash, rec.Joined, rec.CertSerial = "", s.now().UTC(), serial
		return nil
	})
	if errors.Is(err, errTokenUsed) || errors.Is(err, store.ErrNotFound) {
		return refuse(http.StatusUnauthorized, "join refused: the token of node %s was used or withdrawn meanwhile", node)
	}
	if err != nil {
		return err
	}
	s.log.Info("node joined", "node", node)
	writeJSON(w, http.StatusOK, api.Issued{Certificate: string(cert), CA: string(s.ca.CertPEM())})
	return nil
}

// serialOfPEM is the serial number (hex) of a PEM certificate, as
// certSerial reads it back from a caller's chain.
func serialOfPEM(certPEM []byte) (string, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return "", errors.New("issued certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("parse issued certificate: %w", err)
	}
	return cert.SerialNumber.Text(16), nil
}
