package node

import (
	"fmt"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"pcr/engine"
	"pcr/image"
	"pcr/vserver"
)

// Capacity is what the node offers its vservers, as a Source reports it.
type Capacity struct {
	CPUs float64
	// Memory is bytes, after the policy's reserve for the node itself.
	Memory uint64
	// Disk is the free bytes under the node's root.
	Disk uint64
	// NofileMax is the highest RLIMIT_NOFILE a vserver can be given.
	NofileMax uint64
	// MaxVservers is the node owner's cap (0: none).
	MaxVservers int
	// Images are the images the node holds, by the names users type:
	// "busybox" as well as "busybox:latest".
	Images []string
}

// offered is the cores and memory the vservers may have together: the
// node's, less what the policy reserves.
func offered(host NodeResources, pol *Policy) (cpus float64, memory uint64) {
	if pol != nil {
		host = pol.Node()
	}
	cpus, memory = host.CPUs, uint64(max(host.Memory, 0))
	if c := pol.VserverCPUs(); c > 0 {
		cpus = c
	}
	if m := pol.VserverMemory(); m > 0 {
		memory = uint64(m)
	}
	return cpus, memory
}

// imageNames turns the store's "name:tag" names into the names users
// type: a ":latest" name is also offered without its tag. Sorted, once
// each.
func imageNames(stored []string) []string {
	var out []string
	for _, n := range stored {
		out = append(out, n)
		if repo, tag := image.SplitName(n); tag == "latest" {
			out = append(out, repo)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// daemonNode is the daemon as a Source sees it (Node).
type daemonNode struct{ d *daemon }

func (n daemonNode) List() ([]*vserver.VServer, error) { return n.d.mgr.List() }

func (n daemonNode) Exec(slice string, o engine.ExecOptions) (int, error) {
	return n.d.mgr.Exec(slice, o)
}

func (n daemonNode) Info() *NodeInfo { return n.d.info() }

// Stats is the sampler's reading when it is recent, a fresh one
// otherwise: a vserver's disk usage is not free to read at every report.
func (n daemonNode) Stats(slice string) (*vserver.Stats, error) {
	if st, ok := n.d.smp.latest(slice); ok && time.Since(st.Read) <= n.d.cfg.StatsInterval {
		return &st, nil
	}
	return n.d.mgr.Stats(slice)
}

// Capacity reads what the node offers now; a part that cannot be read
// is left zero (and logged at debug level) rather than failing it all.
func (n daemonNode) Capacity() Capacity {
	d := n.d
	pol := d.rec.Policy()
	c := Capacity{}
	c.CPUs, c.Memory = offered(HostResources(), pol)
	if pol != nil {
		c.MaxVservers = pol.MaxVservers
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(d.eng.Root(), &fs); err == nil {
		c.Disk = fs.Bavail * uint64(fs.Bsize)
	} else {
		d.log.Debug("capacity: free disk", "root", d.eng.Root(), "error", err.Error())
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil {
		c.NofileMax = lim.Max
	}
	names, err := d.imageNames()
	if err != nil {
		d.log.Debug("capacity: images", "error", err.Error())
	}
	c.Images = names
	return c
}

// imageNames lists the images of the node's store. The daemon keeps a
// store of its own: the engine's opens lazily and is not for sharing
// between goroutines.
func (d *daemon) imageNames() ([]string, error) {
	d.imagesOnce.Do(func() {
		d.images, d.imagesErr = image.Open(d.eng.Root())
		if d.imagesErr == nil {
			// A broken image is left out; its warning belongs to pcr images, not to the node's log.
			d.images.SetWarnings(nil)
		}
	})
	if d.imagesErr != nil {
		return nil, fmt.Errorf("list images: %w", d.imagesErr)
	}
	imgs, err := d.images.List()
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var stored []string
	for _, img := range imgs {
		stored = append(stored, img.Names...)
	}
	return imageNames(stored), nil
}
