package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Layout of pcr's table (family inet, so one table serves IPv4 and IPv6 and
// NAT works in it on kernels >= 5.2):
//
//	chain prerouting  { type nat hook prerouting priority dstnat (-100); fib daddr type local jump publish }
//	chain output      { type nat hook output priority dstnat (-100); fib daddr type local jump publish }
//	chain publish     { one DNAT rule per published port, comment "ctr=ID pub=..." }
//	chain postrouting { type nat hook postrouting priority srcnat (100); masquerade rules per network and per publishing container }
//	chain forward     { type filter hook forward priority filter (0); policy accept;
//	                    ct state established,related accept; ct status dnat accept; isolation rules per network }
//	set bridges       { type ifname; the bridges of all pcr networks }
//
// Base chains keep policy accept: an accept here never overrides a drop in
// another table, and pcr must not decide the fate of traffic that is not its
// own, so only pcr's bridges are ever matched by a drop.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPublish     = "publish"
	chainPostrouting = "postrouting"
	chainForward     = "forward"
	setBridges       = "bridges"
)

// Firewall edits pcr's nftables table; every method is one netlink transaction
// (nftables batches are atomic: all of it applies or none). Publish's check for
// a port already taken reads before it writes, so callers that may race (two
// pcr processes starting containers) serialize Publish under their own lock.
type Firewall struct {
	conn    *nftables.Conn
	table   *nftables.Table
	netnsFD int // -1: the caller's network namespace
}

// Network is one pcr network as the firewall sees it.
type Network struct {
	Name, Bridge string
	Subnet       netip.Prefix
	Overlay      bool // a segment spanning nodes: isolated, no NAT (overlayRules)
}

// New opens pcr's table in the caller's network namespace, creating the table,
// its base chains and set if missing. table is "pcr" in production.
func New(table string) (*Firewall, error) {
	return NewInNetNS(table, -1)
}

// NewInNetNS is New for the network namespace open at netnsFD (-1: the
// caller's), so tests can work in a namespace of their own from any thread.
// The fd must stay open while the Firewall is used.
func NewInNetNS(table string, netnsFD int) (*Firewall, error) {
	if table == "" || len(table) > 64 || strings.ContainsAny(table, " \t\n/") {
		return nil, fmt.Errorf("nftables table %q: invalid name", table)
	}
	var opts []nftables.ConnOption
	if netnsFD >= 0 {
		opts = append(opts, nftables.WithNetNSFd(netnsFD))
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables table %s: open netlink: %w", table, err)
	}
	f := &Firewall{conn: conn, table: &nftables.Table{Name: table, Family: nftables.TableFamilyINet}, netnsFD: netnsFD}
	if err := f.setup(); err != nil {
		return nil, err
	}
	return f, nil
}

// setup creates the table and everything fixed in it in one batch. The table
// is created exclusively, so when two pcr processes race only one batch wins
// and the base rules are never added twice.
func (f *Firewall) setup() error {
	if _, err := f.conn.ListTableOfFamily(f.table.Name, f.table.Family); err == nil {
		return f.checkSetup()
	}
	c := f.conn
	c.CreateTable(f.table)
	accept := nftables.ChainPolicyAccept
	pre := c.AddChain(&nftables.Chain{Name: chainPrerouting, Table: f.table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	out := c.AddChain(&nftables.Chain{Name: chainOutput, Table: f.table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	c.AddChain(&nftables.Chain{Name: chainPublish, Table: f.table})
	c.AddChain(&nftables.Chain{Name: chainPostrouting, Table: f.table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	fwd := c.AddChain(&nftables.Chain{Name: chainForward, Table: f.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	if err := c.AddSet(&nftables.Set{Table: f.table, Name: setBridges, KeyType: nftables.TypeIFName}, nil); err != nil {
		return fmt.Errorf("nftables table %s: add set %s: %w", f.table.Name, setBridges, err)
	}
	// Only traffic to this host's own addresses is a candidate for a
	// published port; the output hook makes 127.0.0.1:PORT work from the host.
	c.AddRule(&nftables.Rule{Table: f.table, Chain: pre, Exprs: rule(matchDaddrLocal(), []expr.Any{jump(chainPublish)}), UserData: comment("base")})
	c.AddRule(&nftables.Rule{Table: f.table, Chain: out, Exprs: rule(matchDaddrLocal(), []expr.Any{jump(chainPublish)}), UserData: comment("base")})
	// Replies, and connections to published ports (from anywhere, including
	// containers of other networks, as a port published on the host is).
	c.AddRule(&nftables.Rule{Table: f.table, Chain: fwd, Exprs: rule(matchCtEstablished(), []expr.Any{verdict(expr.VerdictAccept)}), UserData: comment("base")})
	c.AddRule(&nftables.Rule{Table: f.table, Chain: fwd, Exprs: rule(matchCtDNAT(), []expr.Any{verdict(expr.VerdictAccept)}), UserData: comment("base")})
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return f.checkSetup() // another pcr created it meanwhile
		}
		return fmt.Errorf("nftables table %s: create: %w", f.table.Name, err)
	}
	return nil
}

// checkSetup verifies an existing table has pcr's chains, so a foreign or
// half-deleted table gives a clear error instead of odd failures later.
func (f *Firewall) checkSetup() error {
	for _, name := range []string{chainPrerouting, chainOutput, chainPublish, chainPostrouting, chainForward} {
		if _, err := f.conn.ListChain(f.table, name); err != nil {
			return fmt.Errorf("nftables table %s: exists without chain %s (not pcr's, or damaged; delete the table): %w", f.table.Name, name, err)
		}
	}
	return nil
}

// Delete drops the whole table with every rule in it; a missing table is not an error.
func (f *Firewall) Delete() error {
	f.conn.DelTable(f.table)
	if err := f.conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nftables table %s: delete: %w", f.table.Name, err)
	}
	return nil
}

// comment is rule userdata in the format `nft` shows as `comment "..."`.
// pcr finds its rules by these comments: "ctr=ID ..." and "net=NAME ...".
func comment(s string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, s)
}

func ruleComment(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// commentFields splits "k1=v1 k2=v2" into a map.
func commentFields(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// rules lists the rules of one chain of the table.
func (f *Firewall) rules(chain string) ([]*nftables.Rule, error) {
	rs, err := f.conn.GetRules(f.table, &nftables.Chain{Name: chain, Table: f.table})
	if err != nil {
		return nil, fmt.Errorf("nftables table %s: list chain %s: %w", f.table.Name, chain, err)
	}
	return rs, nil
}

// taggedRules returns the rules of the given chains whose comment has key=value.
func (f *Firewall) taggedRules(key, value string, chains ...string) ([]*nftables.Rule, error) {
	var out []*nftables.Rule
	for _, ch := range chains {
		rs, err := f.rules(ch)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if commentFields(ruleComment(r))[key] == value {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func (f *Firewall) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: f.table}
}

// writeSysctl writes value to /proc/sys/<key> inside the Firewall's network
// namespace: /proc/sys/net shows the netns of the thread that opens it, so for
// another netns the write runs on a thread moved there, which is then thrown
// away (never unlocked) instead of going back to the Go scheduler.
func (f *Firewall) writeSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", key)
	write := func() error {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("set sysctl %s=%s: %w", strings.ReplaceAll(key, "/", "."), value, err)
		}
		return nil
	}
	if f.netnsFD < 0 {
		return write()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(f.netnsFD, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("set sysctl %s: enter netns: %w", key, err)
			return
		}
		errc <- write()
	}()
	return <-errc
}
