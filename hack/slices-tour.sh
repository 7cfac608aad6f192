#!/usr/bin/env bash
# The README's multi-node tour: three nodes (network namespaces) on this machine, a slice
# authority, a node manager per node; create a slice on all three, run a command in each of its
# vservers, see them reach each other over the slice's overlay, delete it, and take everything
# away again. Run as root after make build && make fixtures.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/slices-lab.sh"
dir=$(mktemp -d /var/tmp/pcr-tour.XXXXXX)
trap 'lab_down; rm -rf "$dir"' EXIT

# show ARGS…: print the command as a user would type it, then run it as the lab's admin.
show() {
	local a out=
	for a in "$@"; do
		[[ $a =~ ^[A-Za-z0-9_.,:/=-]+$ ]] && out+=" $a" || out+=" '${a//\'/\'\\\'\'}'"
	done
	printf '\n$ pcr%s\n' "$out"
	lab_pcr "$@"
}

lab_up "$dir" 3
show node ls
show slice create demo_tour --image busybox --nodes n1,n2,n3 --memory 64M --expires 1h
for _ in $(seq 100); do
	[[ $(lab_pcr slice status demo_tour --format json | grep -o '"state":"running"' | wc -l) == 3 ]] && break
	sleep 0.1
done
show slice status demo_tour
show slice exec demo_tour --all -- hostname
# n1's vserver fetches a page from n3's over the overlay (VXLAN between the nodes).
n3addr=$(lab_pcr slice status demo_tour --format json | grep -o '"node":"n3","state":"running","address":"[0-9.]*"' | grep -o '[0-9.]*"$' | tr -d '"')
show slice exec demo_tour --node n3 -- sh -c 'mkdir -p /tmp/www && echo hello from n3 >/tmp/www/index.html && httpd -p 8080 -h /tmp/www'
show slice exec demo_tour --node n1 -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $n3addr 8080 | tail -n 1"
show slice delete demo_tour
show slice ls
