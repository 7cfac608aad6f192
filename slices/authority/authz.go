package authority

import (
	"net/http"
	"slices"

	"pcr/slices/api"
	"pcr/slices/ca"
	"pcr/slices/store"
)

// Who may do what, decided from the certificate's identity alone.

func isAdmin(id ca.Identity) bool { return id.Role == ca.RoleAdmin }

func requireAdmin(id ca.Identity, what string) error {
	if !isAdmin(id) {
		return forbidden("%s %s may not %s: only an admin may", id.Role, id.Name, what)
	}
	return nil
}

// mayCreateSlices: an admin anywhere, a PI in its own site.
func mayCreateSlices(id ca.Identity, site string) error {
	if isAdmin(id) || (id.Role == ca.RolePI && id.Site == site) {
		return nil
	}
	return forbidden("only a PI of site %s or an admin may create slices", site)
}

// mayActOn: an admin, a PI of the slice's site, or an owner.
func mayActOn(id ca.Identity, sl *api.Slice) error {
	switch id.Role {
	case ca.RoleAdmin:
		return nil
	case ca.RolePI:
		if id.Site == sl.Site {
			return nil
		}
	case ca.RoleNode:
		return forbidden("node %s may not act on slice %s", id.Name, sl.Name)
	}
	if slices.Contains(sl.Owners, id.Name) && id.Site == sl.Site {
		return nil
	}
	return forbidden("%s %s may not act on slice %s: not an owner and not a PI of site %s", id.Role, id.Name, sl.Name, sl.Site)
}

func maySee(id ca.Identity, sl *api.Slice) bool { return mayActOn(id, sl) == nil }

// requireSelf lets only node name (and, for reads, an admin) use a
// node's own routes.
func requireSelf(id ca.Identity, name, what string, adminToo bool) error {
	if id.Role == ca.RoleNode && id.Name == name {
		return nil
	}
	if adminToo && isAdmin(id) {
		return nil
	}
	if id.Role == ca.RoleNode {
		return forbidden("node %s may %s only its own %s", id.Name, verbOf(what), what)
	}
	return forbidden("%s %s may not %s of node %s: only the node itself may", id.Role, id.Name, verbOf(what)+" the "+what, name)
}

// certSerial is the serial number (hex) of the caller's verified
// certificate; "" when there is none.
func certSerial(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	return r.TLS.VerifiedChains[0][0].SerialNumber.Text(16)
}

// requireCurrentCert refuses a node caller whose certificate is not the
// one its last join issued: with no revocation, a node removed and added
// again would otherwise keep access with its old certificate. Other
// roles pass.
func requireCurrentCert(id ca.Identity, serial string, rec *store.NodeRecord) error {
	if id.Role != ca.RoleNode || (rec.CertSerial != "" && rec.CertSerial == serial) {
		return nil
	}
	return forbidden("certificate of node %s was replaced: join again", rec.Name)
}

func verbOf(what string) string {
	switch what {
	case "slivers":
		return "read"
	case "report":
		return "send"
	}
	return "answer"
}
