package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls the authority over HTTPS with the caller's certificate.
type Client struct {
	base string
	http *http.Client
}

// NewClient makes a client for the authority at base ("https://host:port").
// tlsConf carries the CA that verifies the authority and, except for
// Join, the caller's certificate (see slices/ca.ClientTLS).
func NewClient(base string, tlsConf *tls.Config) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("invalid authority URL %q: want https://HOST:PORT", base)
	}
	tr := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true,
		TLSHandshakeTimeout: 10 * time.Second, IdleConnTimeout: 90 * time.Second}
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Transport: tr}}, nil
}

// URL is the authority's base URL.
func (c *Client) URL() string { return c.base }

// StatusError is a refusal by the authority: its HTTP status and the one
// line it gave.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// IsStatus says whether err is a refusal with this HTTP status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

// Paths of the API; {name} and {id} are path segments.
const (
	PathSlices = "/v1/slices"
	PathNodes  = "/v1/nodes"
	PathUsers  = "/v1/users"
	PathJoin   = "/v1/join"
)

func slicePath(name string, rest ...string) string {
	return PathSlices + "/" + url.PathEscape(name) + suffix(rest)
}
func nodePath(name string, rest ...string) string {
	return PathNodes + "/" + url.PathEscape(name) + suffix(rest)
}
func suffix(rest []string) string {
	var b strings.Builder
	for _, r := range rest {
		b.WriteString("/" + url.PathEscape(r))
	}
	return b.String()
}

// do sends in (if not nil) as JSON and decodes the answer into out (if not
// nil). A refusal becomes a *StatusError; a connection failure names the
// authority.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: bad answer from the authority: %w", method, path, err)
	}
	return nil
}

func (c *Client) unreachable(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("authority %s unreachable: %w", c.base, err)
}

// checkStatus turns a non-2xx answer into a *StatusError with the body's
// one line.
func checkStatus(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e Error
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if msg == "" {
		msg = resp.Status
	}
	return &StatusError{Status: resp.StatusCode, Message: msg}
}

// CreateSlice creates a slice and returns it as stored.
func (c *Client) CreateSlice(ctx context.Context, in CreateSlice) (*Slice, error) {
	var s Slice
	return &s, c.do(ctx, http.MethodPost, PathSlices, in, &s)
}

// ListSlices lists the slices the caller may see.
func (c *Client) ListSlices(ctx context.Context) ([]Slice, error) {
	var s []Slice
	return s, c.do(ctx, http.MethodGet, PathSlices, nil, &s)
}

// GetSlice reads one slice.
func (c *Client) GetSlice(ctx context.Context, name string) (*Slice, error) {
	var s Slice
	return &s, c.do(ctx, http.MethodGet, slicePath(name), nil, &s)
}

// DeleteSlice deletes a slice: every node removes its vserver.
func (c *Client) DeleteSlice(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, slicePath(name), nil, nil)
}

// RenewSlice moves a slice's expiry.
func (c *Client) RenewSlice(ctx context.Context, name string, in Renew) (*Slice, error) {
	var s Slice
	return &s, c.do(ctx, http.MethodPost, slicePath(name, "renew"), in, &s)
}

// ChangeNodes adds nodes to a slice and removes others.
func (c *Client) ChangeNodes(ctx context.Context, name string, in ChangeNodes) (*Slice, error) {
	var s Slice
	return &s, c.do(ctx, http.MethodPost, slicePath(name, "nodes"), in, &s)
}

// SliceAction is "start", "stop" or "restart" on every vserver of a slice.
func (c *Client) SliceAction(ctx context.Context, name, action string) (*Slice, error) {
	var s Slice
	return &s, c.do(ctx, http.MethodPost, slicePath(name, action), nil, &s)
}

// SliceStatus is a row per node of the slice.
func (c *Client) SliceStatus(ctx context.Context, name string) (*SliceStatus, error) {
	var s SliceStatus
	return &s, c.do(ctx, http.MethodGet, slicePath(name, "status"), nil, &s)
}

// Exec runs a command in a slice's vservers through their node managers
// and returns a result per node, in the order of the slice's nodes.
func (c *Client) Exec(ctx context.Context, name string, in ExecRequest) ([]ExecResult, error) {
	var r []ExecResult
	return r, c.do(ctx, http.MethodPost, slicePath(name, "exec"), in, &r)
}

// ListNodes lists every node with its health.
func (c *Client) ListNodes(ctx context.Context) ([]Node, error) {
	var n []Node
	return n, c.do(ctx, http.MethodGet, PathNodes, nil, &n)
}

// AddNode registers a node (admin) and returns its one-time join token.
func (c *Client) AddNode(ctx context.Context, in AddNode) (*AddedNode, error) {
	var n AddedNode
	return &n, c.do(ctx, http.MethodPost, PathNodes, in, &n)
}

// RemoveNode removes a node (admin); slices keep the others.
func (c *Client) RemoveNode(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, nodePath(name), nil, nil)
}

// AddUser records a user (admin) and signs its certificate request.
func (c *Client) AddUser(ctx context.Context, in AddUser) (*Issued, error) {
	var r Issued
	return &r, c.do(ctx, http.MethodPost, PathUsers, in, &r)
}

// Join trades a node's one-time token for its certificate. It is the one
// call that needs no client certificate.
func (c *Client) Join(ctx context.Context, in Join) (*Issued, error) {
	var r Issued
	return &r, c.do(ctx, http.MethodPost, PathJoin, in, &r)
}

// Report is a node's heartbeat with the state of its vservers.
func (c *Client) Report(ctx context.Context, node string, in Report) error {
	return c.do(ctx, http.MethodPost, nodePath(node, "report"), in, nil)
}

// Assignment reads what a node must run now (the full resync).
func (c *Client) Assignment(ctx context.Context, node string) (*Assignment, error) {
	var a Assignment
	return &a, c.do(ctx, http.MethodGet, nodePath(node, "slivers"), nil, &a)
}

// PostExecResult answers an exec job.
func (c *Client) PostExecResult(ctx context.Context, node, id string, in ExecResult) error {
	return c.do(ctx, http.MethodPost, nodePath(node, "exec", id), in, nil)
}

// PingInterval is how often the watch stream sends a keep-alive; a
// follower that hears nothing for 3 of them takes the link for dead.
const PingInterval = 5 * time.Second

// Watch follows a node's assignment: fn gets the first Assignment at once
// and each new one as the authority's state changes, until ctx ends, fn
// fails, or the stream breaks (an error: the caller reconnects). A stream
// silent for 3 PingIntervals is taken for broken.
func (c *Client) Watch(parent context.Context, node string, fn func(*Assignment) error) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	path := nodePath(node, "slivers") + "?watch=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("watch %s: %w", node, err)
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	heard := make(chan struct{}, 1)
	go func() {
		t := time.NewTimer(3 * PingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-heard:
				t.Reset(3 * PingInterval)
			case <-t.C:
				cancel()
				return
			}
		}
	}()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		select {
		case heard <- struct{}{}:
		default:
		}
		var m WatchMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("watch %s: bad message from the authority: %w", node, err)
		}
		if m.Assignment == nil {
			continue
		}
		if err := fn(m.Assignment); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if parent.Err() != nil {
			return parent.Err()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("watch %s: the authority went silent for %s", node, 3*PingInterval)
		}
		return c.unreachable(err)
	}
	if parent.Err() != nil {
		return parent.Err()
	}
	return fmt.Errorf("watch %s: the authority closed the stream", node)
}
