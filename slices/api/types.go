// Package api is the slice authority's wire protocol: the JSON types its
// HTTPS API carries and a client for them. It is shared by the authority
// (slices/authority), the node managers that follow it (slices/follow)
// and the CLI, and imports nothing of the runtime, so that none of them
// drags in what it does not run.
package api

import (
	"time"

	"pcr/rspec"
)

// Slice lifetimes, as PlanetLab had them: a slice lives two weeks unless
// renewed, and is never renewed past eight weeks from the renewal.
const (
	DefaultLifetime = 14 * 24 * time.Hour
	MaxLifetime     = 8 * 7 * 24 * time.Hour
)

// Site is an institution: its PIs act on all of its slices.
type Site struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// User is a person with a certificate issued by the authority. Role is
// "admin", "pi" or "user"; Site is empty for an admin.
type User struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Site    string    `json:"site,omitempty"`
	Created time.Time `json:"created"`
}

// Capacity is what a node offers its vservers.
type Capacity struct {
	CPUs float64 `json:"cpus"`
	// Memory and Disk are bytes; Disk is free space under the node's root.
	Memory uint64 `json:"memory"`
	Disk   uint64 `json:"disk,omitempty"`
	// NofileMax is the highest RLIMIT_NOFILE the node can grant.
	NofileMax uint64 `json:"nofileMax,omitempty"`
	// MaxVservers is the node owner's cap (0: none).
	MaxVservers int `json:"maxVservers,omitempty"`
}

// Node is a machine whose node manager follows the authority.
type Node struct {
	Name string `json:"name"`
	// Address is the node's address on the underlay: the slice overlay's
	// VXLAN tunnels end there.
	Address  string   `json:"address,omitempty"`
	Capacity Capacity `json:"capacity"`
	// Policy is the owner's policy in one line, as the node reports it.
	Policy string   `json:"policy,omitempty"`
	Images []string `json:"images,omitempty"`
	// Added is when an admin added it, Joined when it first presented its
	// join token (zero: not yet), LastSeen its last report.
	Added    time.Time `json:"added"`
	Joined   time.Time `json:"joined,omitzero"`
	LastSeen time.Time `json:"lastSeen,omitzero"`
	// Health is computed when read: "up", "unreachable" (not seen for
	// longer than the authority's staleness) or "not joined".
	Health string `json:"health,omitempty"`
	// Vservers is how many vservers it reported, by state.
	Vservers map[string]int `json:"vservers,omitempty"`
}

// Node health values.
const (
	HealthUp          = "up"
	HealthUnreachable = "unreachable"
	HealthNotJoined   = "not joined"
)

// Slice is a set of vservers, one per node, that a distributed
// application is given.
type Slice struct {
	// Name is <site>_<name>; Site is its site part.
	Name   string      `json:"name"`
	Site   string      `json:"site"`
	Owners []string    `json:"owners,omitempty"`
	Image  string      `json:"image"`
	Rspec  rspec.Rspec `json:"rspec"`
	Nodes  []string    `json:"nodes"`
	// Expires is when every node removes the slice's vservers.
	Expires   time.Time `json:"expires"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"createdBy,omitempty"`
	// Stopped holds its vservers stopped until a start.
	Stopped bool `json:"stopped,omitempty"`
	// RestartGeneration grows on each restart; a node restarts a vserver
	// whose recorded generation is lower.
	RestartGeneration int64 `json:"restartGeneration,omitempty"`
	// Network is the slice's private overlay across its nodes.
	Network *SliceNetwork `json:"network,omitempty"`
	// Revision is the store's revision of the slice when read.
	Revision int64 `json:"revision,omitempty"`
}

// SliceNetwork is a slice's overlay: one VXLAN VNI, one subnet, and an
// address per node, handed out by the authority.
type SliceNetwork struct {
	VNI    uint32 `json:"vni"`
	Subnet string `json:"subnet"`
	// Addresses maps a node to its vserver's address (no prefix length).
	Addresses map[string]string `json:"addresses"`
}

// CreateSlice is POST /v1/slices.
type CreateSlice struct {
	Name   string      `json:"name"`
	Image  string      `json:"image"`
	Rspec  rspec.Rspec `json:"rspec"`
	Nodes  []string    `json:"nodes"`
	Owners []string    `json:"owners,omitempty"`
	// Expires zero means DefaultLifetime from now.
	Expires time.Time `json:"expires,omitzero"`
}

// Renew is POST /v1/slices/{name}/renew; Expires zero means
// DefaultLifetime from now.
type Renew struct {
	Expires time.Time `json:"expires,omitzero"`
}

// ChangeNodes is POST /v1/slices/{name}/nodes.
type ChangeNodes struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// Usage is a vserver's use of its node, as the node sampled it.
type Usage struct {
	CPUSeconds  float64 `json:"cpuSeconds"`
	MemoryBytes uint64  `json:"memoryBytes"`
	MemoryLimit uint64  `json:"memoryLimit,omitempty"`
	DiskBytes   uint64  `json:"diskBytes"`
	DiskLimit   uint64  `json:"diskLimit,omitempty"`
	NetRxBytes  uint64  `json:"netRxBytes"`
	NetTxBytes  uint64  `json:"netTxBytes"`
	Pids        uint64  `json:"pids"`
}

// SliverStatus is what a node reports of one of its vservers.
type SliverStatus struct {
	Slice string `json:"slice"`
	// State is the vserver's: running, stopped, creating, refused, failed.
	State string `json:"state"`
	// Reason says in plain words why it is not running as asked.
	Reason   string `json:"reason,omitempty"`
	Address  string `json:"address,omitempty"`
	Restarts int    `json:"restarts,omitempty"`
	Usage    *Usage `json:"usage,omitempty"`
}

// Report is POST /v1/nodes/{name}/report: a node's heartbeat, with what
// it offers and the state of every vserver the authority assigned it.
type Report struct {
	Address  string         `json:"address,omitempty"`
	Capacity Capacity       `json:"capacity"`
	Policy   string         `json:"policy,omitempty"`
	Images   []string       `json:"images,omitempty"`
	Slivers  []SliverStatus `json:"slivers"`
}

// SliverRow is one node's line of a slice's status.
type SliverRow struct {
	Node string `json:"node"`
	// State is the vserver's state as last reported, "pending" when the
	// node has not reported it yet, or "unreachable" when the node has
	// not been seen for longer than the authority's staleness.
	State    string    `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Address  string    `json:"address,omitempty"`
	Usage    *Usage    `json:"usage,omitempty"`
	LastSeen time.Time `json:"lastSeen,omitzero"`
}

// SliceStatus is GET /v1/slices/{name}/status.
type SliceStatus struct {
	Slice Slice       `json:"slice"`
	Nodes []SliverRow `json:"nodes"`
}

// Sliver is a slice as one node must run it: what the node manager turns
// into a vserver.
type Sliver struct {
	Slice             string         `json:"slice"`
	Site              string         `json:"site"`
	Owners            []string       `json:"owners,omitempty"`
	Image             string         `json:"image"`
	Rspec             rspec.Rspec    `json:"rspec"`
	Expires           time.Time      `json:"expires"`
	Stopped           bool           `json:"stopped,omitempty"`
	RestartGeneration int64          `json:"restartGeneration,omitempty"`
	Network           *SliverNetwork `json:"network,omitempty"`
}

// SliverNetwork is a vserver's place on its slice's overlay.
type SliverNetwork struct {
	VNI    uint32 `json:"vni"`
	Subnet string `json:"subnet"`
	// Address is this node's vserver's address in Subnet.
	Address string `json:"address"`
	// Peers are the underlay addresses of the slice's other nodes.
	Peers []string `json:"peers,omitempty"`
}

// Assignment is everything one node must do: GET
// /v1/nodes/{name}/slivers, and each message of its watch stream.
type Assignment struct {
	Node string `json:"node"`
	// Revision is the store revision it was read at; it only grows.
	Revision int64    `json:"revision"`
	Slivers  []Sliver `json:"slivers"`
	// Exec are the commands waiting to run in this node's vservers.
	Exec []ExecJob `json:"exec,omitempty"`
}

// WatchMessage is one line of the watch stream
// (GET /v1/nodes/{name}/slivers?watch=true, application/x-ndjson): a new
// Assignment, or a keep-alive that lets either side see a dead link.
type WatchMessage struct {
	Assignment *Assignment `json:"assignment,omitempty"`
	Ping       bool        `json:"ping,omitempty"`
}

// ExecRequest is POST /v1/slices/{name}/exec: run Cmd in the slice's
// vserver on Node, or on all of its nodes.
type ExecRequest struct {
	Node string   `json:"node,omitempty"`
	All  bool     `json:"all,omitempty"`
	Cmd  []string `json:"cmd"`
	// Timeout is in seconds (default 30, at most 600).
	Timeout int `json:"timeout,omitempty"`
}

// ExecJob is a command handed to a node through its watch stream.
type ExecJob struct {
	ID       string    `json:"id"`
	Slice    string    `json:"slice"`
	Cmd      []string  `json:"cmd"`
	Deadline time.Time `json:"deadline"`
	// By is who asked, for the node's log.
	By string `json:"by,omitempty"`
}

// ExecResult is what a node posts back (POST
// /v1/nodes/{name}/exec/{id}) and what the caller of ExecRequest gets, one
// per node. Output past MaxExecOutput bytes per stream is cut.
type ExecResult struct {
	Node     string `json:"node"`
	ExitCode int    `json:"exitCode"`
	Stdout   string `json:"stdout,omitempty"`
	Stderr   string `json:"stderr,omitempty"`
	// Error says why the command did not run (or no answer came).
	Error string `json:"error,omitempty"`
}

// MaxExecOutput bounds each of stdout and stderr of a slice exec.
const MaxExecOutput = 1 << 20

// AddUser is POST /v1/users (admin): record the user (and its site) and
// sign the certificate request made with the user's own key.
type AddUser struct {
	Name string `json:"name"`
	Role string `json:"role"`
	Site string `json:"site,omitempty"`
	// CSR is a PEM certificate request whose CN is Name.
	CSR string `json:"csr"`
}

// Issued is a signed certificate and the CA that checks it (PEM).
type Issued struct {
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
}

// AddNode is POST /v1/nodes (admin).
type AddNode struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
}

// AddedNode carries the one-time join token; only its hash is stored.
type AddedNode struct {
	Node  Node   `json:"node"`
	Token string `json:"token"`
}

// Join is POST /v1/join, the one call made without a client
// certificate: a node trades its one-time token for a certificate.
type Join struct {
	Token string `json:"token"`
	CSR   string `json:"csr"`
}

// Error is every refusal's body: one line meant for a person.
type Error struct {
	Error string `json:"error"`
}
