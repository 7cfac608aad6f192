package netns

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// dumpTries bounds retryDump: each retry is a fresh dump of a table that
// changed under the last one.
const dumpTries = 10

// retryDump runs a netlink dump again while the kernel says it was
// interrupted (NLM_F_DUMP_INTR: links, addresses or routes changed while it
// was read, as they do whenever other containers start or stop), and
// returns the first whole one. netlink's partial result would miss links
// and addresses at random: an overlap check passed wrongly, a veth left.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var out []T
	var err error
	for range dumpTries {
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}
