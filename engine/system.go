package engine

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"pcr/cgroup"
	"pcr/image"
)

// DiskUsageRow is one line of pcr system df.
type DiskUsageRow struct {
	Type        string `json:"Type"`
	Total       int    `json:"TotalCount"`
	Active      int    `json:"Active"`
	Size        int64  `json:"Size"`
	Reclaimable int64  `json:"Reclaimable"`
}

// SystemDiskUsage is what images, containers, volumes and the build cache take
// under the root. Layers shared by several images count once; an image's
// layers are reclaimable when no container uses it nor any image that
// shares them with one.
func (e *Engine) SystemDiskUsage() ([]DiskUsageRow, error) {
	store, err := e.Images()
	if err != nil {
		return nil, err
	}
	imgs, err := store.List()
	if err != nil {
		return nil, err
	}
	used, err := ImagesInUse(e.root)
	if err != nil {
		return nil, err
	}
	ctrs, err := e.List(true)
	if err != nil {
		return nil, err
	}
	return []DiskUsageRow{
		imageUsage(imgs, used),
		e.containerUsage(ctrs),
		{Type: "Local Volumes"},
		buildCacheUsage(filepath.Join(e.root, "build", "cache")),
	}, nil
}

func imageUsage(imgs []*image.Image, used map[digest.Digest]bool) DiskUsageRow {
	row := DiskUsageRow{Type: "Images", Total: len(imgs)}
	sizes := map[digest.Digest]int64{} // chain ID -> size
	active := map[digest.Digest]bool{} // chain IDs an active image needs
	for _, img := range imgs {
		inUse := used[img.ID]
		if inUse {
			row.Active++
		}
		for _, l := range img.Layers {
			sizes[l.ChainID] = l.Size
			if inUse {
				active[l.ChainID] = true
			}
		}
	}
	for chain, size := range sizes {
		row.Size += size
		if !active[chain] {
			row.Reclaimable += size
		}
	}
	return row
}

func (e *Engine) containerUsage(ctrs []*Container) DiskUsageRow {
	row := DiskUsageRow{Type: "Containers", Total: len(ctrs)}
	for _, c := range ctrs {
		size := e.writableSize(c.Record)
		row.Size += size
		if c.State.Running {
			row.Active++
		} else {
			row.Reclaimable += size
		}
	}
	return row
}

func buildCacheUsage(dir string) DiskUsageRow {
	row := DiskUsageRow{Type: "Build Cache"}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return row
	}
	for _, en := range entries {
		if !strings.HasPrefix(en.Name(), ".") {
			row.Total++
		}
	}
	row.Size = DirSize(dir)
	row.Reclaimable = row.Size
	return row
}

// Info is pcr info: the engine's containers and images and the host
// features it runs them with.
type Info struct {
	Containers        int      `json:"Containers"`
	ContainersRunning int      `json:"ContainersRunning"`
	ContainersPaused  int      `json:"ContainersPaused"`
	ContainersStopped int      `json:"ContainersStopped"`
	Images            int      `json:"Images"`
	StorageDriver     string   `json:"Driver"`
	BackingFilesystem string   `json:"BackingFilesystem"`
	CgroupDriver      string   `json:"CgroupDriver"`
	CgroupVersion     string   `json:"CgroupVersion"`
	CgroupMode        string   `json:"CgroupMode"`
	KernelVersion     string   `json:"KernelVersion"`
	OperatingSystem   string   `json:"OperatingSystem"`
	OSType            string   `json:"OSType"`
	Architecture      string   `json:"Architecture"`
	NCPU              int      `json:"NCPU"`
	MemTotal          uint64   `json:"MemTotal"`
	RootDir           string   `json:"DockerRootDir"`
	StateDir          string   `json:"StateDir"`
	Seccomp           bool     `json:"Seccomp"`
	Namespaces        []string `json:"Namespaces"`
	// Forwarding is what pcr turned on of the host's IP forwarding.
	Forwarding string `json:"Forwarding,omitempty"`
}

// Info gathers pcr info.
func (e *Engine) Info() (*Info, error) {
	in := HostInfo()
	in.RootDir, in.StateDir = e.root, e.state
	in.BackingFilesystem = fsType(e.root)
	ctrs, err := e.List(true)
	if err != nil {
		return nil, err
	}
	in.Containers = len(ctrs)
	for _, c := range ctrs {
		switch {
		case c.State.Paused:
			in.ContainersPaused++
		case c.State.Running:
			in.ContainersRunning++
		default:
			in.ContainersStopped++
		}
	}
	store, err := e.Images()
	if err != nil {
		return nil, err
	}
	imgs, err := store.List()
	if err != nil {
		return nil, err
	}
	in.Images = len(imgs)
	in.Forwarding = e.ForwardingState()
	return in, nil
}

// HostInfo is the part of Info that needs no store: kernel, OS, cgroups,
// CPUs, memory and the runtime's features.
func HostInfo() *Info {
	in := &Info{StorageDriver: "overlay", CgroupDriver: "cgroupfs", OSType: "linux", Architecture: goruntime.GOARCH,
		NCPU: goruntime.NumCPU(), MemTotal: hostMemory(), Seccomp: true}
	in.CgroupMode = cgroup.Mode()
	in.CgroupVersion = CgroupVersionText(in.CgroupMode)
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		in.KernelVersion = unix.ByteSliceToString(u.Release[:])
	}
	in.OperatingSystem = osPrettyName("/etc/os-release")
	for _, ns := range []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"} {
		if _, err := os.Stat(filepath.Join("/proc/self/ns", ns)); err == nil {
			in.Namespaces = append(in.Namespaces, ns)
		}
	}
	return in
}

// CgroupVersionText says which cgroup version containers get, as Docker
// prints it, and where a hybrid host has its cgroup2 mount.
func CgroupVersionText(mode string) string {
	switch mode {
	case cgroup.ModeV2:
		return "2"
	case cgroup.ModeHybrid:
		return "1 (hybrid, cgroup2 at /sys/fs/cgroup/unified)"
	}
	return "1"
}

// osPrettyName is PRETTY_NAME of an os-release file.
func osPrettyName(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return "unknown"
}

// fsType names the filesystem dir lives on, as Docker's "Backing
// Filesystem" does.
func fsType(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	names := map[int64]string{
		unix.EXT4_SUPER_MAGIC: "extfs", unix.XFS_SUPER_MAGIC: "xfs", unix.BTRFS_SUPER_MAGIC: "btrfs",
		unix.TMPFS_MAGIC: "tmpfs", unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
		unix.F2FS_SUPER_MAGIC: "f2fs",
	}
	if n, ok := names[int64(st.Type)]; ok {
		return n
	}
	return fmt.Sprintf("0x%x", st.Type)
}
