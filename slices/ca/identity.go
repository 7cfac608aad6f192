// Package ca is the slice authority's certificate authority: it makes and
// loads the CA, issues the certificates that say who a user, PI, node or
// admin is, and builds the mutual-TLS configurations every authority call
// runs over. Identity lives in the certificate itself so that the
// authority needs no password store and a node can prove who it is to the
// authority without a shared secret after its first call.
package ca

import (
	"crypto/x509"
	"fmt"
	"regexp"
)

// Role is what a certificate holder may do. It travels in the
// certificate's Subject OU so that the authority decides from the verified
// chain alone, without a lookup that could disagree with the certificate.
type Role string

const (
	// RoleAdmin may do everything.
	RoleAdmin Role = "admin"
	// RolePI acts on every slice of its site.
	RolePI Role = "pi"
	// RoleUser acts only on slices that list it.
	RoleUser Role = "user"
	// RoleNode reads only its own slivers.
	RoleNode Role = "node"
)

// ParseRole accepts exactly the four role names, so that a typo on the
// command line never becomes a certificate with a role nobody checks for.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RolePI, RoleUser, RoleNode:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: want admin, pi, user or node", s)
}

// Identity is who a certificate says its holder is: Subject CN = Name,
// O = Site (empty for admin and node), OU = Role.
type Identity struct {
	Name string
	Site string
	Role Role
}

// Names end up in slice owner lists, file names and etcd keys, so they are
// kept to a small lower-case alphabet; sites prefix slice names
// (<site>_<name>) and so may hold neither '_' nor '-'. The patterns are
// compiled per call: no package-level state.
const (
	namePattern = `^[a-z0-9][a-z0-9._-]{0,62}$`
	sitePattern = `^[a-z][a-z0-9]{1,19}$`
)

func validName(s string) bool { return regexp.MustCompile(namePattern).MatchString(s) }
func validSite(s string) bool { return regexp.MustCompile(sitePattern).MatchString(s) }

// validate says in one line what is wrong with id, if anything.
func (id Identity) validate() error {
	if _, err := ParseRole(string(id.Role)); err != nil {
		return err
	}
	if !validName(id.Name) {
		return fmt.Errorf("invalid name %q: want 1-63 of a-z 0-9 . _ - starting with a letter or digit", id.Name)
	}
	switch id.Role {
	case RoleAdmin, RoleNode:
		if id.Site != "" {
			return fmt.Errorf("invalid identity %s: a %s carries no site (got %q)", id.Name, id.Role, id.Site)
		}
	case RolePI, RoleUser:
		if id.Site == "" {
			return fmt.Errorf("invalid identity %s: a %s needs a site", id.Name, id.Role)
		}
		if !validSite(id.Site) {
			return fmt.Errorf("invalid site %q: want 2-20 of a-z 0-9 starting with a letter", id.Site)
		}
	}
	return nil
}

// String is the form used in logs and errors: "pi alice@princeton",
// "node node1".
func (id Identity) String() string {
	if id.Site == "" {
		return fmt.Sprintf("%s %s", id.Role, id.Name)
	}
	return fmt.Sprintf("%s %s@%s", id.Role, id.Name, id.Site)
}

// IdentityOf reads the Identity out of a certificate this package issued.
// It refuses a certificate without exactly one known role or with a name
// or site outside the rules, so that a certificate made by hand (or by an
// older, laxer authority) cannot slip a surprising name into an ACL.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("identity of certificate: no certificate")
	}
	subj := cert.Subject
	if len(subj.OrganizationalUnit) != 1 {
		return Identity{}, fmt.Errorf("identity of certificate %q: want exactly one role (OU), got %d", subj.CommonName, len(subj.OrganizationalUnit))
	}
	if len(subj.Organization) > 1 {
		return Identity{}, fmt.Errorf("identity of certificate %q: want at most one site (O), got %d", subj.CommonName, len(subj.Organization))
	}
	id := Identity{Name: subj.CommonName, Role: Role(subj.OrganizationalUnit[0])}
	if len(subj.Organization) == 1 {
		id.Site = subj.Organization[0]
	}
	if err := id.validate(); err != nil {
		return Identity{}, fmt.Errorf("identity of certificate %q: %w", subj.CommonName, err)
	}
	return id, nil
}
