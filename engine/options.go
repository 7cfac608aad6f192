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
	Networks   []string `json:"networks,omitempty"`
	Publish    []string `json:"publish,omitempty"`
	PublishAll bool     `json:"publishAll,omitempty"`
	// Expose is the image's ExposedPorts ("80/tcp"), kept at create for -P.
	Expose         []string `json:"expose,omitempty"`
	IP             string   `json:"ip,omitempty"`
	DNS            []string `json:"dns,omitempty"`
	DNSSearch      []string `json:"dnsSearch,omitempty"`
	AddHost        []string `json:"addHost,omitempty"`
	NetworkAliases []string `json:"networkAliases,omitempty"`
	// StopSignal overrides the image's STOPSIGNAL (--stop-signal).
	StopSignal string `json:"stopSignal,omitempty"`
}
