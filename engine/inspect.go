package engine

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"pcr/engine/internal/monitor"
)

// InspectJSON is `pcr inspect`'s output, shaped like Docker's so that
// scripts reading .State.ExitCode or .GraphDriver.Data work unchanged.
type InspectJSON struct {
	ID             string            `json:"Id"`
	Name           string            `json:"Name"`
	Created        time.Time         `json:"Created"`
	Path           string            `json:"Path"`
	Args           []string          `json:"Args"`
	State          State             `json:"State"`
	Image          string            `json:"Image"`
	LogPath        string            `json:"LogPath"`
	HostnamePath   string            `json:"HostnamePath"`
	HostsPath      string            `json:"HostsPath"`
	ResolvConfPath string            `json:"ResolvConfPath"`
	Config         InspectConfig     `json:"Config"`
	HostConfig     InspectHostConfig `json:"HostConfig"`
	GraphDriver    GraphDriver       `json:"GraphDriver"`
	// NetworkSettings is the running container's network.
	NetworkSettings InspectNetworkSettings `json:"NetworkSettings"`
}

// InspectConfig is what the container runs.
type InspectConfig struct {
	Hostname   string   `json:"Hostname"`
	User       string   `json:"User"`
	Tty        bool     `json:"Tty"`
	OpenStdin  bool     `json:"OpenStdin"`
	Env        []string `json:"Env"`
	Cmd        []string `json:"Cmd"`
	Entrypoint []string `json:"Entrypoint"`
	WorkingDir string   `json:"WorkingDir"`
	Image      string   `json:"Image"`
	StopSignal string   `json:"StopSignal,omitempty"`
}

// InspectHostConfig is how the host runs it.
type InspectHostConfig struct {
	Binds          []string `json:"Binds"`
	Tmpfs          []string `json:"Tmpfs"`
	NetworkMode    string   `json:"NetworkMode"`
	AutoRemove     bool     `json:"AutoRemove"`
	ReadonlyRootfs bool     `json:"ReadonlyRootfs"`
	CapAdd         []string `json:"CapAdd"`
	CapDrop        []string `json:"CapDrop"`
	SecurityOpt    []string `json:"SecurityOpt"`
	Init           bool     `json:"Init"`
	Memory         int64    `json:"Memory"`
	MemorySwap     int64    `json:"MemorySwap"`
	NanoCpus       int64    `json:"NanoCpus"`
	CpuShares      uint64   `json:"CpuShares"`
	CpusetCpus     string   `json:"CpusetCpus"`
	PidsLimit      int64    `json:"PidsLimit"`
	CgroupParent   string   `json:"CgroupParent"`
	// StorageOpt is Docker's: {"size": bytes} with a disk image.
	StorageOpt map[string]string `json:"StorageOpt,omitempty"`
	// IDMappings are the user namespace's maps, as podman shows them
	// ("CONTAINER:HOST:SIZE").
	IDMappings *InspectIDMappings `json:"IDMappings,omitempty"`
}

// InspectIDMappings are a user namespace's uid_map and gid_map lines.
type InspectIDMappings struct {
	UidMap []string `json:"UidMap"`
	GidMap []string `json:"GidMap"`
}

// GraphDriver names the overlay's directories.
type GraphDriver struct {
	Name string            `json:"Name"`
	Data map[string]string `json:"Data"`
}

// InspectData describes a container the way docker inspect does.
func (e *Engine) InspectData(c *Container) InspectJSON {
	o := c.Options
	net := o.Network
	if net == "" {
		net = "none"
	}
	j := InspectJSON{
		ID: c.ID, Name: "/" + c.Name, Created: c.Created, State: c.State, Image: string(c.ImageID),
		LogPath:      monitor.LogPath(c.Dir),
		HostnamePath: filepath.Join(c.Dir, "hostname"), HostsPath: filepath.Join(c.Dir, "hosts"),
		ResolvConfPath: filepath.Join(c.Dir, "resolv.conf"),
		Config: InspectConfig{Hostname: o.Hostname, User: o.User, Tty: o.Tty, OpenStdin: o.OpenStdin, Env: o.Env,
			Cmd: o.Cmd, Entrypoint: o.Entrypoint, WorkingDir: o.WorkingDir, Image: c.Image,
			StopSignal: c.StopSignal},
		HostConfig: InspectHostConfig{Binds: o.Volumes, Tmpfs: o.Tmpfs, NetworkMode: net, AutoRemove: o.Rm,
			ReadonlyRootfs: o.ReadOnly, CapAdd: o.CapAdd, CapDrop: o.CapDrop, SecurityOpt: o.SecurityOpt, Init: o.Init,
			Memory: o.Memory, MemorySwap: o.MemorySwap, NanoCpus: o.NanoCPUs, CpuShares: o.CPUShares,
			CpusetCpus: o.CpusetCPUs, PidsLimit: o.PidsLimit, CgroupParent: o.CgroupParent},
		GraphDriver: GraphDriver{Name: "overlay", Data: map[string]string{
			"LowerDir":  strings.Join(c.Lowers, ":"),
			"UpperDir":  e.upperDir(c.Record),
			"WorkDir":   e.workDir(c.Record),
			"MergedDir": filepath.Join(c.Dir, "rootfs"),
		}},
	}
	if o.StorageSize > 0 {
		j.HostConfig.StorageOpt = map[string]string{"size": strconv.FormatInt(o.StorageSize, 10)}
	}
	if len(o.UIDMap) > 0 {
		j.HostConfig.IDMappings = &InspectIDMappings{UidMap: idMapStrings(o.UIDMap), GidMap: idMapStrings(o.GIDMap)}
	}
	j.NetworkSettings = networkSettings(c)
	if args := c.Command(); len(args) > 0 {
		j.Path, j.Args = args[0], args[1:]
	}
	return j
}

// Command is the container's process.args as its config.json has them
// (the image's entrypoint and cmd merged with the flags), read from the
// record's resolved command.
func (c *Container) Command() []string { return c.Args }
