package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"pcr/vserver"
)

// ActionKind is one thing a reconcile pass does to a vserver.
type ActionKind string

const (
	ActCreate   ActionKind = "create"
	ActRecreate ActionKind = "recreate" // remove, then create: what cannot change in place changed
	ActUpdate   ActionKind = "update"   // limits changed in place
	ActExpiry   ActionKind = "set-expiry"
	ActRevive   ActionKind = "revive"
	ActStop     ActionKind = "stop"      // the source wants it stopped (not the admin's hold)
	ActStart    ActionKind = "start"     // the source's stop is lifted
	ActRestart  ActionKind = "restart"   // the source asked for a restart (a higher generation)
	ActPeers    ActionKind = "set-peers" // the slice overlay's other nodes changed, in place
	ActRemove   ActionKind = "remove"
	ActRefuse   ActionKind = "refuse"
	ActFail     ActionKind = "fail" // the assignment cannot be made; recorded with the reason
	ActSkip     ActionKind = "skip" // nothing done, for a reason worth saying once
)

// Action is one step of a pass. Reason is the plain words logged (and,
// for refuse and fail, recorded); Note is what the vserver's record
// keeps as its reason (what the node's caps changed).
type Action struct {
	Kind    ActionKind
	Slice   string
	Spec    vserver.Spec
	Applied vserver.Rspec
	Origin  string
	Reason  string
	Note    string
}

// staleCreate is how long a record may say "creating" before the create
// is taken for dead (its process killed): a create takes seconds.
const staleCreate = 2 * time.Minute

// planInput is everything a pass decides on.
type planInput struct {
	// Origin is the source's name; HaveDesired is false when the source
	// has no set at all, and then nothing is created or removed for it.
	Origin      string
	HaveDesired bool
	Desired     []vserver.Spec
	Current     []*vserver.VServer
	Policy      *Policy
	Now         time.Time
	// RetryAt holds back slices whose last action failed, until then.
	RetryAt map[string]time.Time
}

// occupies says a vserver holds a place on the node (a container, or a
// create under way); refused and failed records hold none.
func occupies(v *vserver.VServer) bool {
	return v.ContainerID != "" || v.Status == vserver.StateCreating
}

func expired(t, now time.Time) bool { return !t.IsZero() && !t.After(now) }

// plan decides a pass: pure, so that every decision is table-tested. It
// is idempotent: the plan for a node that matches its assignment is
// empty (or only skips).
func plan(in planInput) []Action {
	var acts []Action
	current := slices.Clone(in.Current)
	slices.SortFunc(current, func(a, b *vserver.VServer) int { return cmp.Compare(a.Slice, b.Slice) })
	cur := map[string]*vserver.VServer{}
	for _, v := range current {
		cur[v.Slice] = v
	}
	desired := map[string]vserver.Spec{}
	if in.HaveDesired {
		for _, d := range in.Desired {
			desired[d.Slice] = d
		}
	}
	waiting := func(slice string) bool { t, ok := in.RetryAt[slice]; return ok && in.Now.Before(t) }

	// Removals first, so that what they free is there for the creates.
	gone := map[string]bool{}
	for _, v := range current {
		d, assigned := desired[v.Slice]
		var reason string
		switch {
		case expired(v.Expires, in.Now):
			reason = "expired at " + v.Expires.UTC().Format(time.RFC3339)
		case v.Origin != in.Origin || !in.HaveDesired:
			continue
		case !assigned:
			reason = "no longer assigned"
		case expired(d.Expires, in.Now):
			reason = "expired at " + d.Expires.UTC().Format(time.RFC3339)
		default:
			continue
		}
		gone[v.Slice] = true
		if waiting(v.Slice) {
			continue
		}
		acts = append(acts, Action{Kind: ActRemove, Slice: v.Slice, Origin: v.Origin, Reason: reason})
	}

	// What the node holds that this source does not decide on counts
	// against the policy first; then the source's vservers that run
	// already (oldest first, so a tighter policy turns away the newest),
	// then new ones by name.
	var admitted []*vserver.VServer
	for _, v := range current {
		if gone[v.Slice] || !occupies(v) {
			continue
		}
		if _, ok := desired[v.Slice]; ok && v.Origin == in.Origin {
			continue
		}
		admitted = append(admitted, v)
		acts = append(acts, keepAlive(v, in.Now, waiting(v.Slice))...)
	}
	order := make([]vserver.Spec, 0, len(desired))
	for _, d := range desired {
		if !gone[d.Slice] && !expired(d.Expires, in.Now) {
			order = append(order, d)
		}
	}
	slices.SortFunc(order, func(a, b vserver.Spec) int {
		ca, cb := cur[a.Slice], cur[b.Slice]
		ra, rb := ca != nil && occupies(ca) && ca.Origin == in.Origin, cb != nil && occupies(cb) && cb.Origin == in.Origin
		switch {
		case ra && rb:
			return cmp.Or(ca.Created.Compare(cb.Created), cmp.Compare(a.Slice, b.Slice))
		case ra:
			return -1
		case rb:
			return 1
		}
		return cmp.Compare(a.Slice, b.Slice)
	})
	for _, d := range order {
		c := cur[d.Slice]
		if c != nil && occupies(c) && c.Origin != in.Origin {
			acts = append(acts, Action{Kind: ActSkip, Slice: d.Slice, Origin: in.Origin,
				Reason: fmt.Sprintf("slice %s already has a vserver made by %s; the assignment waits until it is removed", d.Slice, c.Origin)})
			continue
		}
		if err := d.Validate(in.Now); err != nil {
			switch {
			case c != nil && occupies(c):
				admitted = append(admitted, c)
				acts = append(acts, Action{Kind: ActSkip, Slice: d.Slice, Origin: in.Origin,
					Reason: "the assigned spec is invalid (" + err.Error() + "); the vserver keeps its current one"})
			case c == nil || c.State != vserver.StateFailed || c.Reason != err.Error():
				acts = append(acts, Action{Kind: ActFail, Slice: d.Slice, Spec: d, Origin: in.Origin, Reason: err.Error()})
			}
			continue
		}
		applied, note, err := in.Policy.Admit(d, admitted)
		if err != nil {
			if c == nil || c.State != vserver.StateRefused || c.Reason != err.Error() || c.Origin != in.Origin {
				acts = append(acts, Action{Kind: ActRefuse, Slice: d.Slice, Spec: d, Origin: in.Origin, Reason: err.Error()})
			}
			continue
		}
		admitted = append(admitted, &vserver.VServer{Spec: d, Applied: applied, Origin: in.Origin})
		if waiting(d.Slice) {
			continue
		}
		act := Action{Slice: d.Slice, Spec: d, Applied: applied, Origin: in.Origin, Note: note}
		switch {
		case c == nil || !occupies(c):
			act.Kind, act.Reason = ActCreate, "assigned"
			if note != "" {
				act.Reason += "; " + note
			}
			acts = append(acts, act)
			continue
		case c.Status == vserver.StateCreating:
			if in.Now.Sub(c.Created) > staleCreate {
				act.Kind, act.Reason = ActRecreate, "its create was interrupted"
				acts = append(acts, act)
			}
			continue
		case c.State == vserver.StateFailed:
			act.Kind, act.Reason = ActRecreate, cmp.Or(c.Reason, "its container is gone")
			acts = append(acts, act)
			continue
		}
		if why := replaced(c.Spec, d); why != "" {
			act.Kind, act.Reason = ActRecreate, why
			acts = append(acts, act)
			continue
		}
		if c.Rspec != d.Rspec || c.Applied != applied {
			act.Kind, act.Reason = ActUpdate, rspecChange(c.Applied, applied)
			if note != "" {
				act.Reason += "; " + note
			}
			acts = append(acts, act)
		}
		if !c.Expires.Equal(d.Expires) {
			acts = append(acts, Action{Kind: ActExpiry, Slice: d.Slice, Spec: d, Origin: in.Origin, Reason: expiryChange(c.Expires, d.Expires)})
		}
		if why := peersChange(c.Overlay, d.Overlay); why != "" {
			acts = append(acts, Action{Kind: ActPeers, Slice: d.Slice, Spec: d, Origin: in.Origin, Reason: why})
		}
		if kind, why := runChange(c, d); kind != "" {
			acts = append(acts, Action{Kind: kind, Slice: d.Slice, Spec: d, Origin: in.Origin, Reason: why})
			continue
		}
		acts = append(acts, keepAlive(c, in.Now, false)...)
	}
	return acts
}

// runChange is what the source's stop, start and restart ask of a
// vserver it has: a stop, a start, a restart, or nothing (""). They
// change the vserver's run, never its container.
func runChange(c *vserver.VServer, d vserver.Spec) (ActionKind, string) {
	restart := d.RestartGeneration > c.RestartGeneration
	held := ""
	if c.Held {
		held = "; it stays stopped: the node's admin holds it"
	}
	switch {
	case d.Stopped && c.State == vserver.StateRunning, d.Stopped && !c.Stopped:
		// A vserver already down (crashed, held) is stopped too: its
		// record takes the source's stop, so it is not revived.
		return ActStop, "its slice is stopped"
	case d.Stopped && restart:
		return ActStop, fmt.Sprintf("restart %d asked while its slice is stopped; recorded, it stays stopped", d.RestartGeneration)
	case restart:
		return ActRestart, fmt.Sprintf("restart %d asked", d.RestartGeneration) + held
	case !d.Stopped && c.Stopped:
		return ActStart, "its slice is started again" + held
	}
	return "", ""
}

// keepAlive is what a vserver the pass does not otherwise change needs:
// a new container when it is gone, a start when its init died.
func keepAlive(v *vserver.VServer, now time.Time, waiting bool) []Action {
	if waiting {
		return nil
	}
	switch {
	case v.Status == vserver.StateCreating:
		if now.Sub(v.Created) > staleCreate {
			return []Action{{Kind: ActRecreate, Slice: v.Slice, Spec: v.Spec, Applied: v.Applied, Origin: v.Origin, Reason: "its create was interrupted"}}
		}
	case v.State == vserver.StateFailed && v.ContainerID != "":
		return []Action{{Kind: ActRecreate, Slice: v.Slice, Spec: v.Spec, Applied: v.Applied, Origin: v.Origin, Reason: cmp.Or(v.Reason, "its container is gone")}}
	case v.State == vserver.StateStopped && !v.Held && !v.Stopped:
		return []Action{{Kind: ActRevive, Slice: v.Slice, Origin: v.Origin, Reason: fmt.Sprintf("its init exited (code %d)", v.ExitCode)}}
	}
	return nil
}

// replaced says what changed that a running vserver cannot take in place.
func replaced(have, want vserver.Spec) string {
	switch {
	case have.Image != want.Image:
		return fmt.Sprintf("image changed from %s to %s", have.Image, want.Image)
	case have.Network != want.Network:
		return fmt.Sprintf("network changed from %q to %q", have.Network, want.Network)
	case !slices.Equal(have.Volumes, want.Volumes):
		return "volumes changed"
	}
	return overlayChange(have.Overlay, want.Overlay)
}

// overlayChange says what changed of a slice overlay that its vserver's
// container cannot take in place: all but the peers (its address, the
// tunnel's VNI and local address are set when the container starts).
func overlayChange(have, want *vserver.Overlay) string {
	switch {
	case have == nil && want == nil:
		return ""
	case have == nil:
		return fmt.Sprintf("joins slice overlay VNI %d", want.VNI)
	case want == nil:
		return fmt.Sprintf("leaves slice overlay VNI %d", have.VNI)
	case have.VNI != want.VNI:
		return fmt.Sprintf("slice overlay VNI changed from %d to %d", have.VNI, want.VNI)
	case have.Subnet != want.Subnet:
		return fmt.Sprintf("slice overlay subnet changed from %s to %s", have.Subnet, want.Subnet)
	case have.Address != want.Address:
		return fmt.Sprintf("slice overlay address changed from %s to %s", have.Address, want.Address)
	case have.Local != want.Local:
		return fmt.Sprintf("node's underlay address changed from %q to %q", have.Local, want.Local)
	}
	return ""
}

// peersChange says how the other nodes of a slice overlay changed, or ""
// when they did not; their order and repeats do not count. Only called
// once overlayChange found nothing else changed.
func peersChange(have, want *vserver.Overlay) string {
	if have == nil || want == nil {
		return ""
	}
	h, w := peerSet(have.Peers), peerSet(want.Peers)
	if slices.Equal(h, w) {
		return ""
	}
	var added, gone []string
	for _, p := range w {
		if !slices.Contains(h, p) {
			added = append(added, p)
		}
	}
	for _, p := range h {
		if !slices.Contains(w, p) {
			gone = append(gone, p)
		}
	}
	var out []string
	if len(added) > 0 {
		out = append(out, "added "+strings.Join(added, ","))
	}
	if len(gone) > 0 {
		out = append(out, "gone "+strings.Join(gone, ","))
	}
	return "slice overlay peers changed: " + strings.Join(out, "; ")
}

func peerSet(peers []string) []string {
	out := slices.Clone(peers)
	slices.Sort(out)
	return slices.Compact(out)
}

// rspecChange lists what an update changes, field by field.
func rspecChange(from, to vserver.Rspec) string {
	var out []string
	add := func(field, a, b string) {
		if a != b {
			out = append(out, fmt.Sprintf("%s %s -> %s", field, a, b))
		}
	}
	add("cpu_share", countText(int64(from.CPUShare)), countText(int64(to.CPUShare)))
	add("cpu_cores", coresText(from.CPUCores), coresText(to.CPUCores))
	add("memory", bytesText(from.Memory), bytesText(to.Memory))
	add("disk", bytesText(from.Disk), bytesText(to.Disk))
	add("pids", countText(from.Pids), countText(to.Pids))
	add("net_rate", rateText(from.NetRate), rateText(to.NetRate))
	add("nofile", countText(int64(from.Nofile)), countText(int64(to.Nofile)))
	if len(out) == 0 {
		return "rspec changed"
	}
	return "rspec changed: " + strings.Join(out, ", ")
}

func rateText(r vserver.Rate) string {
	if r == 0 {
		return "unlimited"
	}
	return r.String()
}

func expiryChange(from, to time.Time) string {
	f, t := "never", "never"
	if !from.IsZero() {
		f = from.UTC().Format(time.RFC3339)
	}
	if !to.IsZero() {
		t = to.UTC().Format(time.RFC3339)
	}
	return "expiry changed from " + f + " to " + t
}

// Reconciler keeps the node's vservers matching the source's assignment
// under the node's policy. One pass or one API change runs at a time.
type Reconciler struct {
	mgr          *vserver.Manager
	src          Source // nil: no source, only expiry and restarts
	log          *slog.Logger
	cgroupParent string
	now          func() time.Time
	// observe is told each full pass's duration and outcome (metrics).
	observe func(time.Duration, error)

	mu sync.Mutex // held for a pass and for each API change

	state sync.Mutex // guards the fields below
	pol   *Policy
	// retry is the per-slice backoff after a failed action.
	retry map[string]retryState
	// said is the last skip or failure logged per slice, so that a
	// condition that lasts is logged once and not every second.
	said    map[string]string
	desired []vserver.Spec
	haveSet bool
	last    time.Time
	lastErr error
}

type retryState struct {
	at    time.Time
	delay time.Duration
}

const (
	firstRetry = time.Second
	maxRetry   = 5 * time.Minute
)

// NewReconciler reconciles mgr's vservers with src (nil for none);
// vservers it creates go below cgroupParent ("" for pcr's default).
func NewReconciler(mgr *vserver.Manager, src Source, pol *Policy, cgroupParent string, log *slog.Logger) *Reconciler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{mgr: mgr, src: src, log: log, cgroupParent: cgroupParent, now: time.Now, pol: pol,
		retry: map[string]retryState{}, said: map[string]string{}}
}

// SetPolicy replaces the node's policy; the next pass enforces it.
func (r *Reconciler) SetPolicy(p *Policy) {
	r.state.Lock()
	r.pol = p
	r.state.Unlock()
}

// Policy is the policy in force (nil: none).
func (r *Reconciler) Policy() *Policy {
	r.state.Lock()
	defer r.state.Unlock()
	return r.pol
}

// origin is the source's name, or "" with no source (no vserver has it).
func (r *Reconciler) origin() string {
	if r.src == nil {
		return ""
	}
	return r.src.Name()
}

// Last is when the last full pass ended and its error.
func (r *Reconciler) Last() (time.Time, error) {
	r.state.Lock()
	defer r.state.Unlock()
	return r.last, r.lastErr
}

// Reconcile is one full pass: ask the source, compare with the node,
// act. It is idempotent; errors of single vservers are logged, recorded
// and retried with a backoff, and the pass goes on with the others.
func (r *Reconciler) Reconcile(ctx context.Context) error {
	start := time.Now()
	var srcErr error
	if r.src != nil {
		set, err := r.src.Desired(ctx)
		r.state.Lock()
		if err == nil {
			r.desired, r.haveSet = set, true
		} else if !r.haveSet {
			srcErr = fmt.Errorf("source %s: %w", r.src.Name(), err)
		}
		r.state.Unlock()
	}
	err := r.pass(ctx)
	err = errors.Join(srcErr, err)
	r.state.Lock()
	r.last, r.lastErr = r.now().UTC(), err
	r.state.Unlock()
	if r.observe != nil {
		r.observe(time.Since(start), err)
	}
	return err
}

// pending plans a pass with the set the source gave last, without
// acting: the cheap check run every second for crashed and expired
// vservers. It reports whether a pass would do anything.
func (r *Reconciler) pending() (bool, error) {
	acts, err := r.plan()
	if err != nil {
		return false, err
	}
	for _, a := range acts {
		if a.Kind != ActSkip && !(a.Kind == ActFail && r.saidBefore(a)) {
			return true, nil
		}
	}
	return false, nil
}

func (r *Reconciler) plan() ([]Action, error) {
	all, err := r.mgr.List()
	if err != nil {
		return nil, err
	}
	r.state.Lock()
	in := planInput{Origin: r.origin(), HaveDesired: r.haveSet, Desired: r.desired, Current: all,
		Policy: r.pol, Now: r.now(), RetryAt: map[string]time.Time{}}
	for s, st := range r.retry {
		in.RetryAt[s] = st.at
	}
	r.state.Unlock()
	return plan(in), nil
}

func (r *Reconciler) pass(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	acts, err := r.plan()
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	var errs []error
	for _, a := range acts {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.apply(a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// apply does one action and logs it in one line.
func (r *Reconciler) apply(a Action) error {
	var err error
	switch a.Kind {
	case ActSkip:
		if !r.saidBefore(a) {
			r.log.Info("reconcile", "action", string(a.Kind), "slice", a.Slice, "reason", a.Reason)
			r.remember(a)
		}
		return nil
	case ActFail:
		// A refused or failed record of before gives way to this reason.
		if v, gerr := r.mgr.Get(a.Slice); gerr == nil && !occupies(v) && v.Reason != a.Reason {
			if err = r.mgr.Remove(a.Slice); err != nil {
				r.failed(a, err)
				return fmt.Errorf("%s vserver %s: %w", a.Kind, a.Slice, err)
			}
		}
		err = r.mgr.Fail(a.Spec, a.Origin, a.Reason)
		if !r.saidBefore(a) {
			r.log.Warn("reconcile", "action", string(a.Kind), "slice", a.Slice, "reason", a.Reason)
			r.remember(a)
		}
		return err
	case ActRemove:
		err = r.mgr.Remove(a.Slice)
		if errors.Is(err, vserver.ErrNotFound) {
			err = nil
		}
	case ActRefuse:
		err = r.mgr.Refuse(a.Spec, a.Origin, a.Reason)
	case ActCreate:
		err = r.create(a)
	case ActRecreate:
		if err = r.mgr.Remove(a.Slice); err == nil || errors.Is(err, vserver.ErrNotFound) {
			err = r.create(a)
		}
	case ActUpdate:
		err = r.mgr.Update(a.Slice, a.Spec.Rspec, a.Applied, a.Note)
	case ActExpiry:
		err = r.mgr.SetExpiry(a.Slice, a.Spec.Expires)
	case ActRevive:
		err = r.mgr.Revive(a.Slice)
	case ActStop:
		err = r.mgr.StopBySource(a.Slice, a.Spec.RestartGeneration)
	case ActStart:
		err = r.mgr.StartBySource(a.Slice)
	case ActRestart:
		err = r.mgr.RestartBySource(a.Slice, a.Spec.RestartGeneration)
	case ActPeers:
		err = r.mgr.SetPeers(a.Slice, a.Spec.Overlay.Peers)
	}
	if err != nil {
		r.failed(a, err)
		return err // the Manager's errors name the vserver already
	}
	r.log.Info("reconcile", "action", string(a.Kind), "slice", a.Slice, "reason", a.Reason)
	r.state.Lock()
	delete(r.retry, a.Slice)
	delete(r.said, a.Slice)
	r.state.Unlock()
	return nil
}

func (r *Reconciler) create(a Action) error {
	o := vserver.CreateOptions{Origin: a.Origin, Reason: a.Note, CgroupParent: r.cgroupParent}
	if a.Applied != a.Spec.Rspec {
		applied := a.Applied
		o.Applied = &applied
	}
	_, err := r.mgr.Create(a.Spec, o)
	if err != nil {
		// ls shows the failure with its reason instead of nothing.
		if ferr := r.mgr.Fail(a.Spec, a.Origin, err.Error()); ferr != nil {
			r.log.Error("record failure", "slice", a.Slice, "error", ferr.Error())
		}
	}
	return err
}

// failed logs a failed action and holds the slice back, doubling the
// wait each time up to maxRetry.
func (r *Reconciler) failed(a Action, err error) {
	r.state.Lock()
	st := r.retry[a.Slice]
	st.delay = min(max(st.delay*2, firstRetry), maxRetry)
	st.at = r.now().Add(st.delay)
	r.retry[a.Slice] = st
	r.state.Unlock()
	r.log.Error("reconcile", "action", string(a.Kind), "slice", a.Slice, "reason", a.Reason, "error", err.Error(), "retry_in", st.delay.String())
}

func (r *Reconciler) saidBefore(a Action) bool {
	r.state.Lock()
	defer r.state.Unlock()
	return r.said[a.Slice] == string(a.Kind)+": "+a.Reason
}

func (r *Reconciler) remember(a Action) {
	r.state.Lock()
	r.said[a.Slice] = string(a.Kind) + ": " + a.Reason
	r.state.Unlock()
}

// exclusive runs fn while no pass runs: the API's changes.
func (r *Reconciler) exclusive(fn func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fn()
}

// admit is the policy's decision on a request made through the API, with
// every vserver the node holds counted.
func (r *Reconciler) admit(spec vserver.Spec) (vserver.Rspec, string, error) {
	all, err := r.mgr.List()
	if err != nil {
		return vserver.Rspec{}, "", err
	}
	var others []*vserver.VServer
	for _, v := range all {
		if v.Slice != spec.Slice && occupies(v) {
			others = append(others, v)
		}
	}
	return r.Policy().Admit(spec, others)
}
