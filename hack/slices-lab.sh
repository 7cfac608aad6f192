# hack/slices-lab.sh: a slice authority and N nodes on one machine, each node a network namespace
# with its own address on an underlay bridge, its own --root/--state and its own `pcr node serve`.
# Sourced by hack/slices-tour.sh and bench/slices.sh, never run. Needs root, ip, nsenter, bin/pcr
# and bin/pcr-authority (make build), and the busybox fixture (make fixtures).
#
# Every packet stays inside namespaces the lab makes: the authority, the underlay bridge and the
# user's commands live in a "hub" namespace; only the network namespace changes (nsenter --net), so
# mounts and cgroups are the host's and `lab_down` can check that nothing is left.
#
#   lab_up DIR N       make the hub and nodes n1..nN, start the authority and every node manager
#   lab_pcr ARGS...    run pcr as the admin, from the hub (pcr slice …, pcr node ls)
#   lab_node_pcr NODE ARGS...  run pcr on a node with its --root/--state (pcr vserver ls)
#   lab_down           stop everything, remove what is left on the nodes, delete the namespaces

lab_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab_pcr_bin=${PCR:-$lab_repo/bin/pcr}
lab_hub_addr=10.77.0.1
lab_port=7443
lab_dir=
lab_tag=
lab_nodes=()
lab_pids=()

_lab_say() { printf 'lab: %s\n' "$*" >&2; }

lab_pcr() {
	nsenter --net="/run/netns/${lab_tag}h" -- env \
		PCR_AUTHORITY="https://$lab_hub_addr:$lab_port" \
		PCR_CA="$lab_dir/authority/authority/admin/ca.crt" \
		PCR_CERT="$lab_dir/authority/authority/admin/admin.crt" \
		PCR_KEY="$lab_dir/authority/authority/admin/admin.key" \
		"$lab_pcr_bin" "$@"
}

lab_node_pcr() {
	local node=$1
	shift
	nsenter --net="/run/netns/$lab_tag$node" -- "$lab_pcr_bin" --root "$lab_dir/$node/root" --state "$lab_dir/$node/state" "$@"
}

# _lab_wait WHAT SECONDS CMD...: poll CMD every 0.1 s.
_lab_wait() {
	local what=$1 end=$((SECONDS + $2))
	shift 2
	while ((SECONDS < end)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	_lab_say "gave up waiting for $what"
	return 1
}

_lab_nodes_up() {
	local want=$1
	[[ $(lab_pcr node ls --format json | grep -c '"health":"up"') -ge $want ]]
}

lab_up() {
	lab_dir=$1
	local n=$2 i node addr token
	[[ $(id -u) == 0 ]] || { _lab_say "needs root"; return 1; }
	[[ -x $lab_repo/bin/pcr-authority ]] || { _lab_say "bin/pcr-authority is missing: run make build"; return 1; }
	lab_busybox=$lab_repo/rootfs-fixtures/build/busybox.tar
	[[ -f $lab_busybox ]] || lab_busybox=$lab_repo/rootfs-fixtures/build/busybox/busybox.tar
	[[ -f $lab_busybox ]] || { _lab_say "the busybox fixture is missing: run make fixtures"; return 1; }
	lab_tag=pcrlab$$
	mkdir -p "$lab_dir"
	chmod 0711 "$lab_dir"
	ip netns add "${lab_tag}h"
	ip -n "${lab_tag}h" link set lo up
	ip -n "${lab_tag}h" link add ul type bridge
	ip -n "${lab_tag}h" addr add "$lab_hub_addr/24" dev ul
	ip -n "${lab_tag}h" link set ul up

	"$lab_pcr_bin" --root "$lab_dir/authority" authority init >/dev/null
	nsenter --net="/run/netns/${lab_tag}h" -- "$lab_pcr_bin" --root "$lab_dir/authority" authority serve \
		--listen "$lab_hub_addr:$lab_port" --staleness 5s >"$lab_dir/authority.log" 2>&1 &
	lab_pids+=($!)
	_lab_wait "the authority" 30 lab_pcr node ls || return 1

	for ((i = 1; i <= n; i++)); do
		node=n$i addr=10.77.0.$((10 + i))
		lab_nodes+=("$node")
		mkdir -p "$lab_dir/$node"
		chmod 0711 "$lab_dir/$node"
		ip netns add "$lab_tag$node"
		ip -n "$lab_tag$node" link set lo up
		ip -n "${lab_tag}h" link add "ul-$node" type veth peer name ul0 netns "$lab_tag$node"
		ip -n "${lab_tag}h" link set "ul-$node" master ul up
		ip -n "$lab_tag$node" addr add "$addr/24" dev ul0
		ip -n "$lab_tag$node" link set ul0 up
		lab_node_pcr "$node" import "$lab_busybox" busybox >/dev/null
		token=$(lab_pcr authority add-node "$node" --address "$addr" 2>/dev/null | grep -o 'pcrjoin-[a-z0-9._-]*' | head -1)
		[[ -n $token ]] || { _lab_say "add-node $node gave no token"; return 1; }
		nsenter --net="/run/netns/$lab_tag$node" -- "$lab_pcr_bin" --root "$lab_dir/$node/root" --state "$lab_dir/$node/state" \
			node serve --authority "https://$lab_hub_addr:$lab_port" --name "$node" --join-token "$token" \
			--ca "$lab_dir/authority/authority/admin/ca.crt" --cert "$lab_dir/$node/$node.crt" --key "$lab_dir/$node/$node.key" \
			--address "$addr" --socket "$lab_dir/$node/node.sock" --report-interval 1s >"$lab_dir/$node.log" 2>&1 &
		lab_pids+=($!)
	done
	_lab_wait "$n nodes up" 60 _lab_nodes_up "$n" || return 1
	_lab_say "authority and ${#lab_nodes[@]} nodes up (logs in $lab_dir)"
}

lab_down() {
	local pid node left i
	[[ -n $lab_tag ]] || return 0
	for ((i = ${#lab_pids[@]} - 1; i >= 0; i--)); do
		pid=${lab_pids[i]}
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	done
	for node in "${lab_nodes[@]}"; do
		left=$(lab_node_pcr "$node" vserver ls -q 2>/dev/null || true)
		[[ -z $left ]] || lab_node_pcr "$node" vserver rm $left >/dev/null 2>&1 || true
		ip netns del "$lab_tag$node" 2>/dev/null || true
	done
	ip netns del "${lab_tag}h" 2>/dev/null || true
	if grep -q " $lab_dir/" /proc/self/mountinfo; then
		_lab_say "mounts left under $lab_dir:"; grep " $lab_dir/" /proc/self/mountinfo >&2
		return 1
	fi
	lab_tag=
}
