#!/usr/bin/env bash
# slices: the PlanetLab layer across nodes on this machine (hack/slices-lab.sh: an authority and
# NODES network-namespace nodes, each with its own node manager).
#   1. `pcr slice create` on every node until every node's vserver has started, RUNS times, and the
#      same on one node for reference;
#   2. propagation of a renewal (`pcr slice renew --expires 30d`) and of a deletion to every node;
#   3. authority throughput: bench/slicesload's WORKERS callers creating slices with no nodes for
#      LOAD_SECONDS, round-robin over 3 authorities on a 3-member etcd cluster, then over one
#      authority with its embedded etcd; then deleting them all.
# Progress is read from each node's vserver record (<node root>/vservers/<slice>.json), polled every
# 20 ms: cheaper than asking the authority, and what the node manager writes once it has acted.
# Everything runs in network namespaces the script makes; it takes them all away at exit.
# Needs root, bin/pcr, bin/pcr-authority, go, and the busybox fixture (make fixtures).
# Usage: bench/slices.sh (SLICES_RUNS / BENCH_RUNS: 5, SLICES_NODES: 10, SLICES_LOAD_SECONDS: 10,
# SLICES_LOAD_WORKERS: 8)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$repo/hack/slices-lab.sh"
runs=$(runs SLICES_RUNS 5)
nodes=${SLICES_NODES:-10}
load_seconds=${SLICES_LOAD_SECONDS:-10}
workers=${SLICES_LOAD_WORKERS:-8}
[[ $nodes =~ ^[1-9][0-9]?$ && $load_seconds =~ ^[1-9][0-9]*$ && $workers =~ ^[1-9][0-9]*$ ]] ||
	die "SLICES_NODES (1-99), SLICES_LOAD_SECONDS and SLICES_LOAD_WORKERS must be counts"
need ip nsenter go
[[ -x $repo/bin/pcr-authority ]] || die "bin/pcr-authority is missing: run make build"
# How long any one wait may take before the group gives up.
wait_limit=120

workdir work slices
# A vserver's root is an ordinary host user: it must be able to pass through to its rootfs.
chmod 711 "$work"
on_exit lab_down
# The lab still up at exit means the group failed while using it: its logs' last lines say why.
lab_logs() {
	local f
	[[ -n $lab_tag && -d $lab_dir ]] || return 0
	for f in "$lab_dir"/*.log; do
		[[ -s $f ]] && { log "${f##*/} ends:"; tail -n 3 "$f" >&2; }
	done
	return 0
}
on_exit lab_logs

# The load part's daemons (etcd members, authorities) in a namespace of the group's own.
load_ns=pcrslload$$
daemons=()
# TERM to all at once (an etcd member left alone waits for its peers), KILL what is left after 10 s.
stop_daemons() {
	local pid end=$((SECONDS + 10))
	((${#daemons[@]})) || return 0
	kill -TERM "${daemons[@]}" 2>/dev/null || true
	for pid in "${daemons[@]}"; do
		while alive "$pid" && ((SECONDS < end)); do sleep 0.05; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	daemons=()
}
# alive PID: PID runs (kill -0 cannot tell: an exited child stays a zombie until waited for).
alive() {
	local st=
	{ read -r _ _ st _ </proc/"$1"/stat; } 2>/dev/null || true
	[[ -n $st && $st != Z ]]
}
on_exit "stop_daemons; ip netns del $load_ns 2>/dev/null || true"

param nodes "$nodes"
param runs "$runs"
param load_seconds "$load_seconds"
param load_workers "$workers"

about <<EOF
*Create to running*: the time from invoking \`pcr slice create NAME --image busybox --nodes
n1..n$nodes --memory 64M\` (as the admin, from the authority's namespace) until every node's
vserver record shows its container made and started, polled every 20 ms; the median and the
maximum of $runs, and the same with one node for reference. Each node is a network namespace with
its own \`pcr node serve\` (watching the authority); all share this machine's $(nproc) cores, so
the $nodes vservers are made at once on them. *Renewal* and *deletion*: from invoking \`pcr slice
renew NAME --expires 30d\` (\`pcr slice delete NAME\`) until every node's record has the new
expiry (is gone, the vserver removed), the median and maximum of $runs. *Authority throughput*:
bench/slicesload, $workers callers with an admin's certificate (one HTTPS connection per caller
and authority), creating slices with no nodes for $load_seconds s, each call to the next authority
in turn, then deleting them all; creates/s over the whole run and the latency percentiles of
single calls. Once against 3 authorities on a 3-member etcd cluster (\`pcr-authority etcd\`), all
on loopback in a namespace of their own and on the same cores; once against one authority with
its embedded single-member etcd. etcd fsyncs each commit to this machine's disk.
EOF

# us: the time now in microseconds, without a fork.
us() { printf -v "$1" %s "${EPOCHREALTIME/./}"; }

# record NODE SLICE: REPLY = the text of NODE's vserver record of SLICE; fails when there is none.
# Records are replaced by rename, so a read sees a whole one.
record() {
	local f=$lab_dir/$1/root/vservers/$2.json
	REPLY=
	[[ -f $f ]] || return 1
	IFS= read -r -d '' REPLY 2>/dev/null <"$f" || [[ -n $REPLY ]]
}
# The record says "status" while the vserver is being made (or was refused), and names its
# container once it has been created and started.
started() { record "$1" "$2" && [[ $REPLY == *'"containerId"'* && $REPLY != *'"status":'* ]]; }
expiry_re='"expires": "([^"]+)"'
renewed() { record "$1" "$2" && [[ $REPLY =~ $expiry_re && ${BASH_REMATCH[1]} != "$old_expiry" ]]; }
gone() { [[ ! -e $lab_dir/$1/root/vservers/$2.json ]]; }

# wait_all CHECK SLICE NODE...: poll every 20 ms until CHECK NODE SLICE holds on every node
# (each holds for good once it does), at most wait_limit seconds.
wait_all() {
	local check=$1 slice=$2 end=$((SECONDS + wait_limit)) i=0
	shift 2
	local on=("$@")
	while ((i < ${#on[@]})); do
		if "$check" "${on[i]}" "$slice"; then
			i=$((i + 1))
			continue
		fi
		if ((SECONDS >= end)); then
			log "$slice: not $check on ${on[i]} after ${wait_limit}s; its node's log ends:"
			tail -n 5 "$lab_dir/${on[i]}.log" >&2
			lab_pcr slice status "$slice" >&2 || true
			return 1
		fi
		sleep 0.02
	done
}

# ms_since T0: milliseconds from T0 (microseconds) to now.
ms_since() { local t; us t; echo $(((t - $1 + 500) / 1000)); }
# median_max N...: "MEDIAN MAX" of the numbers.
median_max() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {printf "%d %d\n", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2, a[NR]}'; }

log "building bench/slicesload"
(cd "$repo" && go build -o "$work/slicesload" ./bench/slicesload)

t0=$(now_ms)
lab_up "$work/lab" "$nodes"
lab_s=$((($(now_ms) - t0) / 1000))
all_nodes=("${lab_nodes[@]}")
node_list=$(IFS=,; echo "${all_nodes[*]}")

create_ms=() renew_ms=() delete_ms=() one_create_ms=() one_delete_ms=()
for i in $(seq "$runs"); do
	s=bench_all$i
	us t; lab_pcr slice create "$s" --image busybox --nodes "$node_list" --memory 64M >/dev/null
	wait_all started "$s" "${all_nodes[@]}"
	create_ms+=("$(ms_since "$t")")
	# Checked once per run, outside the clock: the authority too comes to see every vserver
	# running (the nodes report each second).
	for _ in $(seq 100); do
		running=$(lab_pcr slice status "$s" --format json | grep -o '"state":"running"' | wc -l)
		((running == nodes)) && break
		sleep 0.1
	done
	((running == nodes)) || die "$s: the records show $nodes vservers started, slice status $running running"

	record n1 "$s" && [[ $REPLY =~ $expiry_re ]] || die "$s: n1's record has no expiry"
	old_expiry=${BASH_REMATCH[1]}
	us t; lab_pcr slice renew "$s" --expires 30d >/dev/null
	wait_all renewed "$s" "${all_nodes[@]}"
	renew_ms+=("$(ms_since "$t")")

	us t; lab_pcr slice delete "$s" >/dev/null
	wait_all gone "$s" "${all_nodes[@]}"
	delete_ms+=("$(ms_since "$t")")

	s=bench_one$i
	us t; lab_pcr slice create "$s" --image busybox --nodes n1 --memory 64M >/dev/null
	wait_all started "$s" n1
	one_create_ms+=("$(ms_since "$t")")
	us t; lab_pcr slice delete "$s" >/dev/null
	wait_all gone "$s" n1
	one_delete_ms+=("$(ms_since "$t")")
	log "run $i: create on $nodes nodes ${create_ms[-1]} ms, renew ${renew_ms[-1]} ms, delete ${delete_ms[-1]} ms; on 1 node ${one_create_ms[-1]} ms"
done
lab_down

read -r c_med c_max < <(median_max "${create_ms[@]}")
read -r o_med o_max < <(median_max "${one_create_ms[@]}")
read -r r_med r_max < <(median_max "${renew_ms[@]}")
read -r d_med d_max < <(median_max "${delete_ms[@]}")
read -r od_med od_max < <(median_max "${one_delete_ms[@]}")

echo "### 1. slice create until every node's vserver has started (ms, $runs runs)"
echo
echo "| nodes | median | max | all runs |"
echo "|---|---|---|---|"
echo "| $nodes | $c_med | $c_max | ${create_ms[*]} |"
echo "| 1 | $o_med | $o_max | ${one_create_ms[*]} |"
echo
# PlanetLab's node managers fetched new slices from PLC every 15-30 minutes.
echo "PlanetLab took 15-30 minutes for a new slice to reach its nodes; here the median on $nodes nodes" \
	"is $(awk -v m="$c_med" 'BEGIN {printf "%.0f to %.0f", 900000 / m, 1800000 / m}') times shorter." \
	"(The authority and node managers came up in ${lab_s} s.)"
echo
fig "create to running on $nodes nodes: median" "$c_med" ms
fig "create to running on $nodes nodes: max" "$c_max" ms
fig "create to running on 1 node: median" "$o_med" ms
fig "create to running on 1 node: max" "$o_max" ms
fig "PlanetLab 15 min / create to running on $nodes nodes" "$(awk -v m="$c_med" 'BEGIN {printf "%.0f", 900000 / m}')" "×"

echo "### 2. renewal and deletion reaching every node (ms, $runs runs)"
echo
echo "| what | nodes | median | max | all runs |"
echo "|---|---|---|---|---|"
echo "| renew --expires 30d: new expiry in every record | $nodes | $r_med | $r_max | ${renew_ms[*]} |"
echo "| delete: every vserver removed | $nodes | $d_med | $d_max | ${delete_ms[*]} |"
echo "| delete: the vserver removed | 1 | $od_med | $od_max | ${one_delete_ms[*]} |"
echo
fig "renewal reaches $nodes nodes: median" "$r_med" ms
fig "renewal reaches $nodes nodes: max" "$r_max" ms
fig "deletion reaches $nodes nodes: median" "$d_med" ms
fig "deletion reaches $nodes nodes: max" "$d_max" ms
fig "deletion on 1 node: median" "$od_med" ms

# --- 3. authority throughput ---
ip netns add "$load_ns"
ip -n "$load_ns" link set lo up
# Daemons are started with nsenter itself in the background (it execs them), never through a
# function: $! must be the daemon's own PID.
inns=(nsenter "--net=/run/netns/$load_ns" --)
admin=$lab_dir/authority/authority/admin
# wait_log FILE TEXT: until the daemon writing FILE has logged TEXT (at most wait_limit s).
wait_log() {
	local end=$((SECONDS + wait_limit))
	until grep -q "$2" "$1" 2>/dev/null; do
		((SECONDS < end)) || { log "no \"$2\" in $1 after ${wait_limit}s:"; tail -n 5 "$1" >&2; return 1; }
		sleep 0.05
	done
}
# serve_authority NAME PORT [FLAGS...]: an authority trusting the lab's CA, in the load namespace.
serve_authority() {
	local name=$1 root=$work/load/$1 port=$2
	shift 2
	mkdir -p "$root"
	cp -a "$lab_dir/authority/authority/ca" "$root/ca"
	"${inns[@]}" "$repo/bin/pcr-authority" serve --root "$root" --listen "127.0.0.1:$port" --overlay-pool 10.0.0.0/8 "$@" \
		>"$work/load/$name.log" 2>&1 &
	daemons+=($!)
}
# slice_load URL...: slicesload's JSON line against these authorities.
slice_load() {
	"${inns[@]}" "$work/slicesload" -authorities "$(IFS=,; echo "$*")" -ca "$admin/ca.crt" -cert "$admin/admin.crt" \
		-key "$admin/admin.key" -workers "$workers" -duration "${load_seconds}s"
}
# json_field JSON NAME: one number from slicesload's line.
json_field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

log "authority load: 3-member etcd cluster, 3 authorities"
mkdir -p "$work/load"
cluster=e1=http://127.0.0.1:2381,e2=http://127.0.0.1:2382,e3=http://127.0.0.1:2383
for m in 1 2 3; do
	"${inns[@]}" "$repo/bin/pcr-authority" etcd --name "e$m" --data-dir "$work/load/e$m" \
		--listen-client "http://127.0.0.1:237$m" --listen-peer "http://127.0.0.1:238$m" \
		--initial-cluster "$cluster" --initial-cluster-token pcrbench >"$work/load/e$m.log" 2>&1 &
	daemons+=($!)
done
for m in 1 2 3; do wait_log "$work/load/e$m.log" "pcr etcd member e$m serving"; done
endpoints=http://127.0.0.1:2371,http://127.0.0.1:2372,http://127.0.0.1:2373
for a in 1 2 3; do serve_authority "a$a" "744$a" --etcd-endpoints "$endpoints"; done
for a in 1 2 3; do wait_log "$work/load/a$a.log" "pcr authority serving"; done
three=$(slice_load https://127.0.0.1:7441 https://127.0.0.1:7442 https://127.0.0.1:7443)
stop_daemons

log "authority load: one authority, embedded etcd"
serve_authority single 7450
wait_log "$work/load/single.log" "pcr authority serving"
one=$(slice_load https://127.0.0.1:7450)
stop_daemons

echo "### 3. authority throughput: $workers callers creating slices with no nodes for $load_seconds s"
echo
echo "| setup | creates | creates/s | create p50 ms | p99 ms | deletes/s | delete p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for row in "3 authorities, 3-member etcd|$three" "1 authority, embedded etcd|$one"; do
	IFS='|' read -r setup j <<<"$row"
	echo "| $setup | $(json_field "$j" creates) | $(json_field "$j" creates_per_s) | $(json_field "$j" create_p50_ms) |" \
		"$(json_field "$j" create_p99_ms) | $(json_field "$j" deletes_per_s) | $(json_field "$j" delete_p50_ms) | $(json_field "$j" delete_p99_ms) |"
	fig "$setup: creates/s" "$(json_field "$j" creates_per_s)" "creates/s"
	fig "$setup: create p50" "$(json_field "$j" create_p50_ms)" ms
	fig "$setup: create p99" "$(json_field "$j" create_p99_ms)" ms
	fig "$setup: deletes/s" "$(json_field "$j" deletes_per_s)" "deletes/s"
done
ratio=$(awk -v a="$(json_field "$three" creates_per_s)" -v b="$(json_field "$one" creates_per_s)" 'BEGIN {printf "%.2f", a / b}')
echo
echo "3 authorities on the 3-member cluster make ${ratio}× the creates/s of one on its embedded etcd" \
	"(same $(nproc) cores: the cluster commits each write on three members)."
fig "creates/s: 3 authorities on 3-member etcd / 1 with embedded etcd" "$ratio" "×"
