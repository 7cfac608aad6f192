package firewall

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// networkRule is one rule EnsureNetwork owns; its comment carries the network
// so RemoveNetwork and a later EnsureNetwork find it again.
type networkRule struct {
	chain string
	exprs []expr.Any
	what  string
}

// networkRules are a network's rules, in chain order:
//
//	forward:     iifname BR oifname BR accept          (container -> published port of the same bridge, routed back: hairpin)
//	forward:     iifname BR oifname @bridges drop      (isolation: never into another pcr network)
//	forward:     iifname BR accept                     (outbound)
//	forward:     oifname BR drop                       (inbound that is neither a reply nor a published port)
//	postrouting: ip saddr SUBNET oifname != BR masquerade               (outbound NAT)
//	postrouting: ip saddr SUBNET oifname BR ct status dnat masquerade   (hairpin: the server must answer through the host)
func networkRules(n Network) []networkRule {
	if n.Overlay {
		return overlayRules(n)
	}
	accept, drop := []expr.Any{verdict(expr.VerdictAccept)}, []expr.Any{verdict(expr.VerdictDrop)}
	masq := []expr.Any{&expr.Masq{}}
	return []networkRule{
		{chainForward, rule(matchIifname(n.Bridge), matchOifname(n.Bridge, true), accept), "hairpin"},
		{chainForward, rule(matchIifname(n.Bridge), matchOifnameInSet(setBridges), drop), "isolate"},
		{chainForward, rule(matchIifname(n.Bridge), accept), "out"},
		{chainForward, rule(matchOifname(n.Bridge, true), drop), "in"},
		{chainPostrouting, rule(matchPrefix(n.Subnet, true), matchOifname(n.Bridge, false), masq), "masquerade"},
		{chainPostrouting, rule(matchPrefix(n.Subnet, true), matchOifname(n.Bridge, true), matchCtDNAT(), masq), "hairpin-masquerade"},
	}
}

func (n Network) comment(what string) string {
	return fmt.Sprintf("net=%s br=%s subnet=%s rule=%s", n.Name, n.Bridge, n.Subnet.Masked(), what)
}

func (n Network) validate() error {
	switch {
	case n.Name == "" || strings.ContainsAny(n.Name, " \t\n="):
		return fmt.Errorf("invalid network name %q", n.Name)
	case n.Bridge == "" || len(n.Bridge) >= 16 || strings.ContainsAny(n.Bridge, " \t\n/="):
		return fmt.Errorf("network %s: invalid bridge name %q", n.Name, n.Bridge)
	case !n.Subnet.IsValid():
		return fmt.Errorf("network %s: invalid subnet %v", n.Name, n.Subnet)
	}
	return nil
}

// EnsureNetwork installs n's NAT, forward and isolation rules and adds its
// bridge to the isolation set. It is idempotent: when the rules in the kernel
// already say exactly this nothing is written; otherwise the old ones are
// replaced in the same transaction.
func (f *Firewall) EnsureNetwork(n Network) error {
	if err := n.validate(); err != nil {
		return err
	}
	old, err := f.taggedRules("net", n.Name, chainForward, chainPostrouting)
	if err != nil {
		return fmt.Errorf("ensure network %s: %w", n.Name, err)
	}
	want := networkRules(n)
	var have, wantComments []string
	for _, r := range old {
		have = append(have, r.Chain.Name+"|"+ruleComment(r))
	}
	for _, r := range want {
		wantComments = append(wantComments, r.chain+"|"+n.comment(r.what))
	}
	slices.Sort(have)
	slices.Sort(wantComments)
	if slices.Equal(have, wantComments) {
		return nil
	}

	set := &nftables.Set{Table: f.table, Name: setBridges, KeyType: nftables.TypeIFName}
	movedFrom := map[string]bool{}
	for _, r := range old {
		if err := f.conn.DelRule(r); err != nil {
			return fmt.Errorf("ensure network %s: %w", n.Name, err)
		}
		if br := commentFields(ruleComment(r))["br"]; br != "" && br != n.Bridge {
			movedFrom[br] = true
		}
	}
	for br := range movedFrom { // the network moved to another bridge: forget the old one
		if err := f.conn.SetDeleteElements(set, []nftables.SetElement{{Key: ifnameBytes(br)}}); err != nil {
			return fmt.Errorf("ensure network %s: %w", n.Name, err)
		}
	}
	if err := f.conn.SetAddElements(set, []nftables.SetElement{{Key: ifnameBytes(n.Bridge)}}); err != nil {
		return fmt.Errorf("ensure network %s: %w", n.Name, err)
	}
	for _, r := range want {
		f.conn.AddRule(&nftables.Rule{Table: f.table, Chain: f.chain(r.chain), Exprs: r.exprs, UserData: comment(n.comment(r.what))})
	}
	if err := f.conn.Flush(); err != nil {
		return fmt.Errorf("ensure network %s (bridge %s, subnet %s) in nftables table %s: %w", n.Name, n.Bridge, n.Subnet, f.table.Name, err)
	}
	return nil
}

// RemoveNetwork removes the network's rules and its bridge from the isolation
// set; a network without rules is not an error.
func (f *Firewall) RemoveNetwork(name string) error {
	old, err := f.taggedRules("net", name, chainForward, chainPostrouting)
	if err != nil {
		return fmt.Errorf("remove network %s: %w", name, err)
	}
	if len(old) == 0 {
		return nil
	}
	bridges := map[string]bool{}
	for _, r := range old {
		if err := f.conn.DelRule(r); err != nil {
			return fmt.Errorf("remove network %s: %w", name, err)
		}
		if br := commentFields(ruleComment(r))["br"]; br != "" {
			bridges[br] = true
		}
	}
	set := &nftables.Set{Table: f.table, Name: setBridges, KeyType: nftables.TypeIFName}
	for br := range bridges {
		if err := f.conn.SetDeleteElements(set, []nftables.SetElement{{Key: ifnameBytes(br)}}); err != nil {
			return fmt.Errorf("remove network %s: %w", name, err)
		}
	}
	if err := f.conn.Flush(); err != nil {
		return fmt.Errorf("remove network %s from nftables table %s: %w", name, f.table.Name, err)
	}
	return nil
}
