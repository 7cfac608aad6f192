#!/usr/bin/env bash
# The README's multi-node tour: three nodes (network namespaces) on this machine, a slice
# authority, a node manager per node; create a slice on all three, run a command in each of its
# vservers, delete it, and take everything away again. Run as root after make build && make fixtures.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/slices-lab.sh"
dir=$(mktemp -d /var/tmp/pcr-tour.XXXXXX)
trap 'lab_down; rm -rf "$dir"' EXIT

lab_up "$dir" 3
set -x
lab_pcr node ls
time lab_pcr slice create demo_tour --image busybox --nodes n1,n2,n3 --memory 64M --expires 1h
for _ in $(seq 100); do
	[[ $(lab_pcr slice status demo_tour --format json | grep -c '"state": *"running"') == 3 ]] && break
	sleep 0.1
done
lab_pcr slice status demo_tour
lab_pcr slice exec demo_tour --all -- hostname
lab_pcr slice delete demo_tour
lab_pcr slice ls
