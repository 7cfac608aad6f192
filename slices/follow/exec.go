package follow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"pcr/engine"
	"pcr/slices/api"
	"pcr/vserver/node"
)

const (
	// forgetJobAfter is how long past its deadline a job id is kept, so
	// that an assignment read late does not run it twice.
	forgetJobAfter = time.Hour
	// outputGrace is how long output is still read after the command
	// exits: what it left running in the background may hold the pipes.
	outputGrace = 2 * time.Second
	// postTries is how many attempts a result gets at least; past them
	// it is retried only until its job's deadline, after which the
	// authority has answered its caller with "no answer" anyway.
	postTries = 5
	// execFailed is the exit code of a command that did not run, as the
	// CLI's 125: pcr failed, not the command.
	execFailed = 125
)

// newJobs takes the jobs of an assignment that were not taken before
// (f.mu held) and forgets those long past.
func (f *Follower) newJobs(jobs []api.ExecJob) []api.ExecJob {
	now := time.Now()
	handed := map[string]bool{}
	var out []api.ExecJob
	for _, j := range jobs {
		handed[j.ID] = true
		if _, ok := f.seen[j.ID]; ok || j.ID == "" {
			continue
		}
		f.seen[j.ID] = j.Deadline
		out = append(out, j)
	}
	for id, deadline := range f.seen {
		if !handed[id] && now.Sub(deadline) > forgetJobAfter {
			delete(f.seen, id)
		}
	}
	return out
}

func (f *Follower) startJobs(n node.Node, jobs []api.ExecJob) {
	for _, j := range jobs {
		go f.runJob(n, j)
	}
}

// runJob runs one job with its deadline and posts the result. A deadline
// that passes posts an error result; it kills nothing: the command runs
// on in the vserver and its late result is only logged.
func (f *Follower) runJob(n node.Node, job api.ExecJob) {
	res := api.ExecResult{Node: f.cfg.Name}
	wait := time.Until(job.Deadline)
	if wait <= 0 {
		res.ExitCode, res.Error = execFailed, fmt.Sprintf("exec %s: its deadline passed before node %s got it", job.ID, f.cfg.Name)
		f.post(job, res)
		return
	}
	f.log.Info("exec", "id", job.ID, "slice", job.Slice, "by", job.By, "cmd", strings.Join(job.Cmd, " "))
	done := make(chan api.ExecResult, 1)
	go func() { done <- execute(n, f.cfg.Name, job) }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case res = <-done:
	case <-t.C:
		res.ExitCode = execFailed
		res.Error = fmt.Sprintf("exec in %s on node %s: no answer by its deadline %s; the command was left running",
			job.Slice, f.cfg.Name, job.Deadline.UTC().Format(time.RFC3339))
		go func() {
			late := <-done
			f.log.Info("exec finished after its deadline", "id", job.ID, "slice", job.Slice, "exit_code", late.ExitCode, "error", late.Error)
		}()
	case <-f.ctx.Done():
		return
	}
	f.post(job, res)
}

// post sends a job's result, retrying a connection failure or a 5xx
// answer (an authority restarting, a store without quorum) with backoff
// until the job's deadline; a 4xx refusal (the job is gone or answered)
// is final.
func (f *Follower) post(job api.ExecJob, res api.ExecResult) {
	backoff := firstBackoff
	var err error
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(f.ctx, reportTimeout)
		err = f.client.PostExecResult(ctx, f.cfg.Name, job.ID, res)
		cancel()
		var se *api.StatusError
		if err == nil || (errors.As(err, &se) && se.Status < 500) || f.ctx.Err() != nil {
			break
		}
		if try >= postTries && !time.Now().Add(backoff).Before(job.Deadline) {
			break
		}
		if !sleep(f.ctx, backoff) {
			break
		}
		backoff = min(backoff*2, maxBackoff)
	}
	if err != nil && f.ctx.Err() == nil {
		f.log.Warn("exec result not delivered", "id", job.ID, "slice", job.Slice, "error", err.Error())
	}
}

// execute runs the job's command in its slice's vserver, its output cut
// at api.MaxExecOutput per stream.
func execute(n node.Node, nodeName string, job api.ExecJob) api.ExecResult {
	res := api.ExecResult{Node: nodeName}
	fail := func(err error) api.ExecResult {
		res.ExitCode, res.Error = execFailed, strings.ReplaceAll(err.Error(), "\n", "; ")
		return res
	}
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return fail(fmt.Errorf("exec in %s: %w", job.Slice, err))
	}
	defer stdin.Close()
	stdout, err := newCapture(api.MaxExecOutput)
	if err != nil {
		return fail(fmt.Errorf("exec in %s: %w", job.Slice, err))
	}
	stderr, err := newCapture(api.MaxExecOutput)
	if err != nil {
		stdout.text()
		return fail(fmt.Errorf("exec in %s: %w", job.Slice, err))
	}
	code, err := n.Exec(job.Slice, engine.ExecOptions{Cmd: job.Cmd, Stdio: engine.Stdio{In: stdin, Out: stdout.w, Err: stderr.w}})
	res.Stdout, res.Stderr = stdout.text(), stderr.text()
	if err != nil {
		return fail(err)
	}
	res.ExitCode = code
	return res
}

// capture is a pipe whose read end fills a buffer up to a limit and
// drains the rest, so that a chatty command never blocks on it.
type capture struct {
	w, r  *os.File
	limit int
	done  chan struct{}
	mu    sync.Mutex
	buf   bytes.Buffer
}

func newCapture(limit int) (*capture, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("make output pipe: %w", err)
	}
	c := &capture{w: w, r: r, limit: limit, done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *capture) read() {
	defer close(c.done)
	p := make([]byte, 32<<10)
	for {
		n, err := c.r.Read(p)
		if n > 0 {
			c.mu.Lock()
			if room := c.limit - c.buf.Len(); room > 0 {
				c.buf.Write(p[:min(n, room)])
			}
			c.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// text closes the write end and returns what was read once the command's
// side closed too, or after outputGrace.
func (c *capture) text() string {
	c.w.Close()
	t := time.NewTimer(outputGrace)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
	c.r.Close()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
