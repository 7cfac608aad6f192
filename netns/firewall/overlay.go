package firewall

import "github.com/google/nftables/expr"

// overlayRules are an overlay network's rules: the bridge is a closed
// segment that spans nodes through its VXLAN port, so nothing is routed
// into or out of it and nothing is NATed.
//
// With br_netfilter (built in on pcr's kernels, bridge-nf-call-iptables=1
// in every new namespace), a frame bridged between two ports of the bridge
// (two local containers, or a container and the VXLAN port) also passes
// the inet forward hook, and shows the bridge itself as both iifname and
// oifname: the first rule lets it through. Without br_netfilter bridged
// frames never reach the hook and only routed traffic is matched.
//
//	forward: iifname BR oifname BR accept   (between the bridge's own ports)
//	forward: iifname BR drop                (out of the overlay: other networks, the uplink)
//	forward: oifname BR drop                (into the overlay from anywhere else)
func overlayRules(n Network) []networkRule {
	accept, drop := []expr.Any{verdict(expr.VerdictAccept)}, []expr.Any{verdict(expr.VerdictDrop)}
	return []networkRule{
		{chainForward, rule(matchIifname(n.Bridge), matchOifname(n.Bridge, true), accept), "overlay-ports"},
		{chainForward, rule(matchIifname(n.Bridge), drop), "overlay-out"},
		{chainForward, rule(matchOifname(n.Bridge, true), drop), "overlay-in"},
	}
}
