package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"pcr/vserver"
)

// metrics is the node's Prometheus registry: usage per vserver from the
// sampler, states read at scrape time, and the reconciler's own figures.
type metrics struct {
	reg        *prometheus.Registry
	duration   prometheus.Histogram
	errorCount prometheus.Counter
}

func newMetrics(mgr *vserver.Manager, smp *sampler) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pcr_node_reconcile_duration_seconds",
			Help:    "How long a full reconcile pass of the node manager took.",
			Buckets: []float64{.005, .01, .05, .1, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		errorCount: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pcr_node_reconcile_errors_total",
			Help: "Reconcile passes that ended with an error.",
		}),
	}
	m.reg.MustRegister(m.duration, m.errorCount, &vserverCollector{mgr: mgr, smp: smp})
	return m
}

// observe records one pass.
func (m *metrics) observe(d time.Duration, err error) {
	m.duration.Observe(d.Seconds())
	if err != nil {
		m.errorCount.Inc()
	}
}

var (
	descUp       = prometheus.NewDesc("pcr_vserver_up", "1 when the vserver runs, else 0.", []string{"slice"}, nil)
	descCPU      = prometheus.NewDesc("pcr_vserver_cpu_seconds_total", "CPU time the vserver used.", []string{"slice"}, nil)
	descMem      = prometheus.NewDesc("pcr_vserver_memory_bytes", "Memory the vserver uses.", []string{"slice"}, nil)
	descMemLimit = prometheus.NewDesc("pcr_vserver_memory_limit_bytes", "The vserver's memory limit (0: none).", []string{"slice"}, nil)
	descDisk     = prometheus.NewDesc("pcr_vserver_disk_used_bytes", "What the vserver's writable layer uses.", []string{"slice"}, nil)
	descDiskLim  = prometheus.NewDesc("pcr_vserver_disk_limit_bytes", "The vserver's disk size (0: none).", []string{"slice"}, nil)
	descRx       = prometheus.NewDesc("pcr_vserver_network_receive_bytes_total", "Bytes the vserver received.", []string{"slice"}, nil)
	descTx       = prometheus.NewDesc("pcr_vserver_network_transmit_bytes_total", "Bytes the vserver sent.", []string{"slice"}, nil)
	descPids     = prometheus.NewDesc("pcr_vserver_pids", "Processes in the vserver.", []string{"slice"}, nil)
	descRestarts = prometheus.NewDesc("pcr_vserver_restarts_total", "Times the node manager restarted the vserver after its init exited.", []string{"slice"}, nil)
	descVservers = prometheus.NewDesc("pcr_node_vservers", "Vservers on the node by state.", []string{"state"}, nil)
)

// vserverCollector turns the node's vservers into metrics at each scrape.
type vserverCollector struct {
	mgr *vserver.Manager
	smp *sampler
}

func (c *vserverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descCPU, descMem, descMemLimit, descDisk, descDiskLim, descRx, descTx, descPids, descRestarts, descVservers} {
		ch <- d
	}
}

func (c *vserverCollector) Collect(ch chan<- prometheus.Metric) {
	all, err := c.mgr.List()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descVservers, err)
		return
	}
	_, last := c.smp.snapshot()
	counts := map[string]int{}
	for _, s := range []string{vserver.StateRunning, vserver.StateStopped, vserver.StateCreating, vserver.StateRefused, vserver.StateFailed} {
		counts[s] = 0
	}
	for _, v := range all {
		counts[v.State]++
		if v.ContainerID == "" {
			continue // refused and failed: no vserver to measure
		}
		up := 0.0
		if v.State == vserver.StateRunning {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, v.Slice)
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(v.Restarts), v.Slice)
		st, ok := last[v.Slice]
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descCPU, prometheus.CounterValue, st.CPUSeconds, v.Slice)
		ch <- prometheus.MustNewConstMetric(descMem, prometheus.GaugeValue, float64(st.MemoryBytes), v.Slice)
		ch <- prometheus.MustNewConstMetric(descMemLimit, prometheus.GaugeValue, float64(st.MemoryLimit), v.Slice)
		ch <- prometheus.MustNewConstMetric(descDisk, prometheus.GaugeValue, float64(st.DiskUsed), v.Slice)
		ch <- prometheus.MustNewConstMetric(descDiskLim, prometheus.GaugeValue, float64(st.DiskLimit), v.Slice)
		ch <- prometheus.MustNewConstMetric(descRx, prometheus.CounterValue, float64(st.NetRxBytes), v.Slice)
		ch <- prometheus.MustNewConstMetric(descTx, prometheus.CounterValue, float64(st.NetTxBytes), v.Slice)
		ch <- prometheus.MustNewConstMetric(descPids, prometheus.GaugeValue, float64(st.Pids), v.Slice)
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(descVservers, prometheus.GaugeValue, float64(n), state)
	}
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
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{log}}))
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

// slogPrinter is promhttp's error log on the daemon's logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics", "error", fmt.Sprint(v...)) }
