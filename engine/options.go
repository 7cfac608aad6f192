package engine

// Options are the flags of `pcr run`/`pcr create`, resolved (sizes in
// bytes, durations parsed) before anything is made.
type Options struct {
	Name          string   `json:"name,omitempty"`
	Cmd           []string `json:"cmd,omitempty"`
	Entrypoint    []string `json:"entrypoint,omitempty"`
	EntrypointSet bool     `json:"entrypointSet,omitempty"`
	Env           []string `json:"env,omitempty"`
	WorkingDir    string   `json:"workingDir,omitempty"`
	User          string   `json:"user,omitempty"`
	Hostname      string   `json:"hostname,omitempty"`
	Tty           bool     `json:"tty,omitempty"`
	OpenStdin     bool     `json:"openStdin,omitempty"`
	Rm            bool     `json:"rm,omitempty"`
	Init          bool     `json:"init,omitempty"`
	ReadOnly      bool     `json:"readOnly,omitempty"`
	Volumes       []string `json:"volumes,omitempty"`
	Tmpfs         []string `json:"tmpfs,omitempty"`
	CapAdd        []string `json:"capAdd,omitempty"`
	CapDrop       []string `json:"capDrop,omitempty"`
	SecurityOpt   []string `json:"securityOpt,omitempty"`
	Memory        int64    `json:"memory,omitempty"`
	MemorySwap    int64    `json:"memorySwap,omitempty"`
	NanoCPUs      int64    `json:"nanoCpus,omitempty"`
	CPUShares     uint64   `json:"cpuShares,omitempty"`
	CpusetCPUs    string   `json:"cpusetCpus,omitempty"`
	PidsLimit     int64    `json:"pidsLimit,omitempty"`
	CgroupParent  string   `json:"cgroupParent,omitempty"`
	Network       string   `json:"network,omitempty"`
	// Networks are user networks joined besides Network's (network connect).
	Networks []string `json:"networks,omitempty"`
	// NetworkIPs are fixed addresses on Networks (--network NAME:ip=ADDR); IP is Network's.
	NetworkIPs map[string]string `json:"networkIPs,omitempty"`
	Publish    []string          `json:"publish,omitempty"`
	PublishAll bool              `json:"publishAll,omitempty"`
	// Expose is the image's ExposedPorts ("80/tcp"), kept at create for -P.
	Expose         []string `json:"expose,omitempty"`
	IP             string   `json:"ip,omitempty"`
	DNS            []string `json:"dns,omitempty"`
	DNSSearch      []string `json:"dnsSearch,omitempty"`
	AddHost        []string `json:"addHost,omitempty"`
	NetworkAliases []string `json:"networkAliases,omitempty"`
	// StopSignal overrides the image's STOPSIGNAL (--stop-signal).
	StopSignal string `json:"stopSignal,omitempty"`
	// UIDMap non-empty gives the container its own user namespace (GIDMap then required).
	UIDMap []IDMap `json:"uidMap,omitempty"`
	GIDMap []IDMap `json:"gidMap,omitempty"`
	// StorageSize >0 puts upper+work on a per-container ext4 image of this many bytes (a real cap: ENOSPC).
	StorageSize int64 `json:"storageSize,omitempty"`
	// Ulimits are Docker's --ulimit, "nofile=1024:2048" or "nproc=512".
	Ulimits []string `json:"ulimits,omitempty"`
	// NetRate is the egress bytes/s shaped on the container's interfaces (tbf); 0 = none.
	NetRate int64 `json:"netRate,omitempty"`
	// IdleInit: the process is pcr's init (/dev/init --idle) with nothing to run, a persistent container entered with exec.
	IdleInit bool `json:"idleInit,omitempty"`
}

// IDMap is one line of a user namespace's uid_map or gid_map.
type IDMap struct {
	ContainerID uint32 `json:"containerId"`
	HostID      uint32 `json:"hostId"`
	Size        uint32 `json:"size"`
}
