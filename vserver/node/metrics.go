package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"pcr/vserver"
)

// metrics is what the node serves to Prometheus: usage per vserver from the
// sampler and states read at scrape time, and the reconciler's own figures.
// It writes the text exposition format itself: the client library would put
// prometheus, protobuf and procfs, and their package inits, into every start
// of bin/pcr, which links the node manager.
type metrics struct {
	mgr *vserver.Manager
	smp *sampler

	mu      sync.Mutex
	buckets []float64 // upper bounds of the reconcile duration histogram
	counts  []uint64  // per bucket, not cumulative
	sum     float64
	passes  uint64
	errors  uint64
}

func newMetrics(mgr *vserver.Manager, smp *sampler) *metrics {
	b := []float64{.005, .01, .05, .1, .5, 1, 2.5, 5, 10, 30, 60}
	return &metrics{mgr: mgr, smp: smp, buckets: b, counts: make([]uint64, len(b))}
}

// observe records one pass.
func (m *metrics) observe(d time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := d.Seconds()
	if i := sort.SearchFloat64s(m.buckets, s); i < len(m.buckets) {
		m.counts[i]++
	}
	m.sum += s
	m.passes++
	if err != nil {
		m.errors++
	}
}

// expo writes metric families in Prometheus' text format (version 0.0.4).
type expo struct{ b strings.Builder }

func (e *expo) family(name, typ, help string) {
	fmt.Fprintf(&e.b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (e *expo) sample(name, label, value string, v float64) {
	e.b.WriteString(name)
	if label != "" {
		e.b.WriteString("{" + label + `="` + escapeLabel(value) + `"}`)
	}
	e.b.WriteString(" " + formatValue(v) + "\n")
}

func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

func formatValue(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// vserverFamilies are the per-vserver figures, in the order they are served.
var vserverFamilies = []struct{ name, typ, help string }{
	{"pcr_vserver_up", "gauge", "1 when the vserver runs, else 0."},
	{"pcr_vserver_restarts_total", "counter", "Times the node manager restarted the vserver after its init exited."},
	{"pcr_vserver_cpu_seconds_total", "counter", "CPU time the vserver used."},
	{"pcr_vserver_memory_bytes", "gauge", "Memory the vserver uses."},
	{"pcr_vserver_memory_limit_bytes", "gauge", "The vserver's memory limit (0: none)."},
	{"pcr_vserver_disk_used_bytes", "gauge", "What the vserver's writable layer uses."},
	{"pcr_vserver_disk_limit_bytes", "gauge", "The vserver's disk size (0: none)."},
	{"pcr_vserver_network_receive_bytes_total", "counter", "Bytes the vserver received."},
	{"pcr_vserver_network_transmit_bytes_total", "counter", "Bytes the vserver sent."},
	{"pcr_vserver_pids", "gauge", "Processes in the vserver."},
}

// render is one scrape.
func (m *metrics) render() (string, error) {
	all, err := m.mgr.List()
	if err != nil {
		return "", fmt.Errorf("list vservers: %w", err)
	}
	_, last := m.smp.snapshot()
	sort.Slice(all, func(i, j int) bool { return all[i].Slice < all[j].Slice })
	var e expo
	for _, f := range vserverFamilies {
		e.family(f.name, f.typ, f.help)
		for _, v := range all {
			if v.ContainerID == "" {
				continue // refused and failed: no vserver to measure
			}
			if val, ok := vserverValue(f.name, v, last); ok {
				e.sample(f.name, "slice", v.Slice, val)
			}
		}
	}
	counts := map[string]int{}
	for _, v := range all {
		counts[v.State]++
	}
	e.family("pcr_node_vservers", "gauge", "Vservers on the node by state.")
	for _, s := range []string{vserver.StateCreating, vserver.StateFailed, vserver.StateRefused, vserver.StateRunning, vserver.StateStopped} {
		e.sample("pcr_node_vservers", "state", s, float64(counts[s]))
	}

	m.writeReconcile(&e)
	return e.b.String(), nil
}

// writeReconcile is the reconciler's histogram and error count.
func (m *metrics) writeReconcile(e *expo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	const dur = "pcr_node_reconcile_duration_seconds"
	e.family(dur, "histogram", "How long a full reconcile pass of the node manager took.")
	var cum uint64
	for i, le := range m.buckets {
		cum += m.counts[i]
		e.sample(dur+"_bucket", "le", formatValue(le), float64(cum))
	}
	e.sample(dur+"_bucket", "le", "+Inf", float64(m.passes))
	e.sample(dur+"_sum", "", "", m.sum)
	e.sample(dur+"_count", "", "", float64(m.passes))
	e.family("pcr_node_reconcile_errors_total", "counter", "Reconcile passes that ended with an error.")
	e.sample("pcr_node_reconcile_errors_total", "", "", float64(m.errors))
}

// vserverValue is one figure of v; ok is false when the sampler has not
// measured v yet (usage figures only).
func vserverValue(name string, v *vserver.VServer, last map[string]vserver.Stats) (float64, bool) {
	switch name {
	case "pcr_vserver_up":
		if v.State == vserver.StateRunning {
			return 1, true
		}
		return 0, true
	case "pcr_vserver_restarts_total":
		return float64(v.Restarts), true
	}
	st, ok := last[v.Slice]
	if !ok {
		return 0, false
	}
	switch name {
	case "pcr_vserver_cpu_seconds_total":
		return st.CPUSeconds, true
	case "pcr_vserver_memory_bytes":
		return float64(st.MemoryBytes), true
	case "pcr_vserver_memory_limit_bytes":
		return float64(st.MemoryLimit), true
	case "pcr_vserver_disk_used_bytes":
		return float64(st.DiskUsed), true
	case "pcr_vserver_disk_limit_bytes":
		return float64(st.DiskLimit), true
	case "pcr_vserver_network_receive_bytes_total":
		return float64(st.NetRxBytes), true
	case "pcr_vserver_network_transmit_bytes_total":
		return float64(st.NetTxBytes), true
	case "pcr_vserver_pids":
		return float64(st.Pids), true
	}
	return 0, false
}

// MetricsListenAddr is where --metrics-addr listens: a bare ":PORT" is
// loopback only (usage figures are the node owner's business); a host
// given is used as given.
func MetricsListenAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("metrics address %q: want HOST:PORT or :PORT", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// serveMetrics serves /metrics on addr until ctx ends.
func serveMetrics(ctx context.Context, ln net.Listener, m *metrics, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		body, err := m.render()
		if err != nil {
			log.Warn("metrics", "error", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write([]byte(body))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
	}
	return nil
}
