#!/usr/bin/env bash
# Runs the OCI runtime-tools v0.9.0 validation suite against bin/pcr-oci and
# holds it to allowlist.txt, which only grows: a listed case (or case:subtest)
# that fails fails this script; a passing case that is not listed is reported
# so someone adds it.
#
# The suite is fetched through the Go module proxy only (no git) and built in
# build/ from the pinned suite.go.mod/suite.go.sum, cached by their hash.
#
# Environment:
#   RUNTIME_BIN          runtime under test (default bin/pcr-oci)
#   CASES                space-separated cases to run (default: all)
#   ONLY_ALLOWLISTED=1   run only the cases the allowlist names
#   CASE_TIMEOUT         seconds per case (default 60)
#   REFERENCE_RUNTIME    also run this runtime (e.g. /usr/sbin/runc) the same way
#                        and show its results beside pcr's; reference only
#   HOST_CGROUPS=1       also run the cases that create /cgrouptest at the root
#                        of every cgroup hierarchy (outside the caller's cgroup)
#   BUILD_ONLY=1         build the suite and stop
set -euo pipefail

export PATH="$PATH:/usr/local/go/bin"
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build="$here/build"
allowlist="$here/allowlist.txt"
runtime_bin=${RUNTIME_BIN:-$repo/bin/pcr-oci}
case_timeout=${CASE_TIMEOUT:-60}
suite_version=v0.9.0

# These put a cgroup at the root of every hierarchy (absolute cgroupsPath
# /cgrouptest, or a direct mkdir under /sys/fs/cgroup/pids), which is not ours
# to touch on a shared host.
host_cgroup_cases="delete_only_create_resources delete_resources linux_cgroups_blkio
linux_cgroups_cpus linux_cgroups_devices linux_cgroups_hugetlb linux_cgroups_memory
linux_cgroups_network linux_cgroups_pids"

die() { echo "oci-validation: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
command -v go >/dev/null || die "go not found"

# build_suite compiles runtimetest (static, it runs inside the container) and
# every validation program into $build/suite/bin, unless the cached build
# matches the pinned module files and toolchain.
build_suite() {
	local mod="$build/suite" stamp want
	want=$(cat "$here/suite.go.mod" "$here/suite.go.sum" <(go version) | sha256sum | cut -d' ' -f1)
	stamp="$mod/bin/.stamp"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		return 0
	fi
	rm -rf "$mod"
	mkdir -p "$mod/bin"
	# A go.mod at the top of build/ keeps the main module's ./... out of
	# the scratch bundles and the suite's own module.
	printf 'module pcr-oci-validation-scratch\n' >"$build/go.mod"
	cp "$here/suite.go.mod" "$mod/go.mod"
	cp "$here/suite.go.sum" "$mod/go.sum"
	# The machine's configured module proxy, without a direct VCS fallback;
	# the pinned go.sum is the checksum authority so nothing is resolved anew.
	GOPROXY=$(go env GOPROXY | sed 's/,direct$//; s/|direct$//')
	export GOPROXY GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
	local src
	src=$(cd "$mod" && go mod download -json "github.com/opencontainers/runtime-tools@$suite_version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
	[ -d "$src/validation" ] || die "runtime-tools $suite_version source not found (go mod download)"
	local pkgs=()
	for d in "$src"/validation/*/; do
		d=$(basename "$d")
		[ "$d" = util ] || pkgs+=("github.com/opencontainers/runtime-tools/validation/$d")
	done
	(cd "$mod" && go build -trimpath -o bin/ "${pkgs[@]}") || die "build validation programs"
	(cd "$mod" && go build -trimpath -installsuffix cgo -o bin/runtimetest \
		github.com/opencontainers/runtime-tools/cmd/runtimetest) || die "build runtimetest"
	cp "$src/rootfs-amd64.tar.gz" "$mod/bin/rootfs-amd64.tar.gz"
	chmod u+w "$mod/bin/rootfs-amd64.tar.gz"
	echo "$want" >"$stamp"
}

echo "oci-validation: building runtime-tools $suite_version (cached in $build/suite)"
build_suite
[ -z "${BUILD_ONLY:-}" ] || exit 0
suite="$build/suite/bin"

[ -x "$runtime_bin" ] || die "runtime $runtime_bin not built (make build)"

# allowed_cases/allowed_subtests read allowlist.txt: "case" or "case:subtest
# description", # comments.
allow_lines() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$allowlist"; }
allowed_cases=$(allow_lines | grep -v : || true)
allowed_subtests=$(allow_lines | grep : || true)

all_cases=$(ls "$suite" | grep -v -e '^runtimetest$' -e '\.tar\.gz$' | sort)
if [ -n "${CASES:-}" ]; then
	cases=$(tr ' ' '\n' <<<"$CASES" | sed '/^$/d')
elif [ -n "${ONLY_ALLOWLISTED:-}" ]; then
	cases=$(allow_lines | cut -d: -f1 | sort -u)
else
	cases=$all_cases
fi
for c in $cases; do [ -x "$suite/$c" ] || die "no such case $c"; done

run_dir="$build/run"
rm -rf "$run_dir"
mkdir -p "$run_dir"

# run_suite RUNTIME NAME runs every case against RUNTIME with a private state
# root, in a work dir holding the rootfs tarball and runtimetest as the suite
# expects them in its cwd. Results go to $run_dir/NAME/<case>.{tap,err,rc}.
run_suite() {
	local rt=$1 name=$2 out="$run_dir/$2"
	mkdir -p "$out/work" "$out/tmp" "$out/state"
	cp "$suite/runtimetest" "$suite/rootfs-amd64.tar.gz" "$out/work/"
	# The suite calls $RUNTIME without --root; the wrapper gives it a
	# private one so nothing lands in (or is read from) the default.
	# On delete it also keeps the container's stderr when its stdout is
	# empty: RuntimeInsideValidate cases drop the stderr of a container
	# that printed nothing, which is otherwise a silent pass-nothing.
	cat >"$out/runtime" <<-EOF
		#!/bin/sh
		if [ "\$1" = delete ]; then
			b=\$("$rt" --root "$out/state" state "\$2" 2>/dev/null | sed -n 's/^ *"bundle": "\(.*\)",*\$/\1/p')
			for f in "\$b"/stdout-*; do
				[ -f "\$f" ] && [ ! -s "\$f" ] && cat "\$b"/stderr-* >>"$out/empty-stdout.stderr" 2>/dev/null
			done
		fi
		exec "$rt" --root "$out/state" "\$@"
	EOF
	chmod +x "$out/runtime"
	for c in $cases; do
		if [ -z "${HOST_CGROUPS:-}" ] && grep -qw "$c" <<<"$host_cgroup_cases"; then
			echo host-cgroup >"$out/$c.rc"
			: >"$out/$c.tap"
			continue
		fi
		local rc=0
		# Each case gets a mount namespace of its own that receives the
		# host's mounts but sends none back: rootfsPropagation=shared cases
		# would otherwise leave the container's mounts on the host. What is
		# still mounted under $out when the case ends is reported as a leak.
		(cd "$out/work" && RUNTIME="$out/runtime" TMPDIR="$out/tmp" \
			unshare --mount --propagation slave sh -c '
				timeout -k 5 "$1" "$2" >"$3.tap" 2>"$3.err"
				rc=$?
				awk -v d="$4/" '"'"'index($5, d) == 1 { print $5 }'"'"' /proc/self/mountinfo >"$3.mounts"
				exit $rc' sh "$case_timeout" "$suite/$c" "$out/$c" "$out") || rc=$?
		echo "$rc" >"$out/$c.rc"
		if [ -s "$out/$c.mounts" ]; then
			echo "oci-validation: $name/$c: left mounts behind (gone with its mount namespace):" >&2
			sed 's/^/  /' "$out/$c.mounts" | head -5 >&2
		fi
		leftovers "$rt" "$out" "$name/$c"
	done
}

# leftovers kills and deletes whatever a case left behind, and says so: a
# case that leaks containers breaks the next ones.
leftovers() {
	local rt=$1 out=$2 what=$3 ids
	ids=$("$rt" --root "$out/state" list -q 2>/dev/null || true)
	for id in $ids; do
		echo "oci-validation: $what: container $id left behind; deleting" >&2
		"$rt" --root "$out/state" delete --force "$id" >/dev/null 2>&1 || true
	done
	rm -rf "$out/tmp"/ocitest* 2>/dev/null || true
	remove_relative_cgroup_parents
}

# caller_cgroups prints this shell's own cgroup directory in every mounted
# hierarchy (v1 controllers and the v2 one).
caller_cgroups() {
	awk '
		FNR == NR { split($0, f, ":"); own[f[2]] = substr($0, length(f[1] f[2]) + 3); next }
		{
			for (i = 7; $i != "-"; i++) {}
			fs = $(i + 1); so = $(i + 3)
			if (fs == "cgroup2") key = ""
			else if (fs == "cgroup") {
				key = ""
				n = split(so, o, ",")
				for (j = 1; j <= n; j++)
					if (o[j] ~ /^name=/ || (o[j] != "rw" && o[j] != "ro" && o[j] !~ /^(xattr|nsdelegate|relatime|noprefix|clone_children|release_agent=)/))
						key = key (key == "" ? "" : ",") o[j]
				if (key == "") next
			} else next
			if (!(key in own)) next
			p = own[key]
			if ($4 != "/") p = substr(p, length($4) + 1)
			sub(/\/$/, "", p)
			print $5 p
		}' /proc/self/cgroup /proc/self/mountinfo
}

# The relative-cgroupsPath cases use testdir/cgrouptest/container below the
# caller's cgroup; runtimes remove only the leaf. The empty parents are ours
# (the run made them; they did not exist before it), so they go.
remove_relative_cgroup_parents() {
	local d
	for d in $(caller_cgroups); do
		grep -qxF "$d/testdir" <<<"$cgroup_parents_before" && continue
		[ -d "$d/testdir" ] || continue
		rmdir "$d/testdir/cgrouptest" 2>/dev/null || true
		rmdir "$d/testdir" 2>/dev/null || true
	done
}
cgroup_parents_before=$(for d in $(caller_cgroups); do [ ! -d "$d/testdir" ] || echo "$d/testdir"; done)

# verdict NAME CASE prints "status ok notok skip": status is pass (ran, every
# result ok, plan complete), skip (every result skipped), host-cgroup, or fail.
verdict() {
	local d="$run_dir/$1" c=$2 rc tap ok notok skip planned results
	rc=$(cat "$d/$c.rc")
	tap="$d/$c.tap"
	if [ "$rc" = host-cgroup ]; then
		echo "host-cgroup 0 0 0"
		return
	fi
	# Only top-level results count: runtimetest's nested TAP is indented or
	# already folded into one outer result.
	ok=$(grep -c '^ok ' "$tap" || true)
	skip=$(grep -c '^ok .*# SKIP' "$tap" || true)
	notok=$(grep -c '^not ok ' "$tap" || true)
	planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$tap" | tail -1)
	results=$((ok + notok))
	ok=$((ok - skip))
	if [ "$rc" != 0 ] || [ "$notok" != 0 ] || [ -z "$planned" ] || [ "$planned" != "$results" ]; then
		echo "fail $ok $notok $skip"
	elif [ "$ok" = 0 ]; then
		echo "skip $ok $notok $skip"
	else
		echo "pass $ok $notok $skip"
	fi
}

echo "oci-validation: running $(wc -w <<<"$cases") cases against $runtime_bin (timeout ${case_timeout}s each)"
start=$(date +%s)
run_suite "$runtime_bin" pcr
echo "oci-validation: pcr done in $(($(date +%s) - start))s"
if [ -n "${REFERENCE_RUNTIME:-}" ]; then
	start=$(date +%s)
	run_suite "$REFERENCE_RUNTIME" ref
	echo "oci-validation: reference $REFERENCE_RUNTIME done in $(($(date +%s) - start))s"
fi

failed=()
newly=()
ref_pass=()
printf '\n%-36s %-11s %5s %6s %5s  %-9s %s\n' CASE PCR OK NOT-OK SKIP ALLOWLIST ${REFERENCE_RUNTIME:+REFERENCE}
for c in $cases; do
	read -r st ok notok skip < <(verdict pcr "$c")
	listed=no
	if grep -qxF "$c" <<<"$allowed_cases"; then
		listed=case
		[ "$st" = pass ] || failed+=("$c ($st)")
	elif grep -q "^$c:" <<<"$allowed_subtests"; then
		listed=subtests
		# Each listed subtest must appear as a plain ok (not skipped).
		while IFS= read -r line; do
			desc=${line#*:}
			if ! grep -E '^ok [0-9]+ - ' "$run_dir/pcr/$c.tap" | grep -v '# SKIP' |
				sed -E 's/^ok [0-9]+ - //' | grep -qxF -- "$desc"; then
				failed+=("$c:$desc")
			fi
		done < <(grep "^$c:" <<<"$allowed_subtests")
	elif [ "$st" = pass ]; then
		newly+=("$c")
	fi
	ref=
	if [ -n "${REFERENCE_RUNTIME:-}" ]; then
		read -r rst rok rnotok rskip < <(verdict ref "$c")
		ref="$rst $rok/$rnotok/$rskip"
		[ "$rst" != pass ] || ref_pass+=("$c")
	fi
	printf '%-36s %-11s %5s %6s %5s  %-9s %s\n' "$c" "$st" "$ok" "$notok" "$skip" "$listed" "$ref"
done
echo
echo "TAP output and stderr per case: $run_dir/pcr/<case>.{tap,err}"
if [ -n "${REFERENCE_RUNTIME:-}" ]; then
	echo "reference ($REFERENCE_RUNTIME) passes ${#ref_pass[@]}: ${ref_pass[*]}"
fi
if [ ${#newly[@]} -gt 0 ]; then
	echo "NEWLY PASSING (add to hack/oci-validation/allowlist.txt): ${newly[*]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAIL: allowlisted but not passing:"
	printf '  %s\n' "${failed[@]}"
	for f in "${failed[@]}"; do
		c=${f%% *}
		c=${c%%:*}
		echo "--- $c: not ok lines and stderr"
		grep -A12 '^not ok' "$run_dir/pcr/$c.tap" | head -40 || true
		head -20 "$run_dir/pcr/$c.err" || true
	done
	exit 1
fi
echo "PASS: every allowlisted case passes"
