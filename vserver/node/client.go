package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"pcr/vserver"
)

// ErrNoDaemon is a socket with no node manager behind it: `pcr vserver`
// then works on the store directly.
var ErrNoDaemon = errors.New("no node manager is running")

// DefaultSocket is the node manager's socket for a --state dir.
func DefaultSocket(state string) string { return filepath.Join(state, "node.sock") }

// Client is `pcr vserver` talking to the node manager over its socket; it
// implements vserver.Service, with the node's policy applied.
type Client struct {
	socket string
	hc     *http.Client
}

// dialTimeout bounds the connect: a local socket answers at once or not.
const dialTimeout = 2 * time.Second

// Dial checks that a node manager listens on socket. A missing socket or
// one no process listens on (a killed daemon's) is ErrNoDaemon.
func Dial(socket string) (*Client, error) {
	c, err := net.DialTimeout("unix", socket, dialTimeout)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
			return nil, fmt.Errorf("%w on %s", ErrNoDaemon, socket)
		}
		return nil, fmt.Errorf("connect to the node manager on %s: %w", socket, err)
	}
	c.Close()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns: 2,
	}
	return &Client{socket: socket, hc: &http.Client{Transport: tr}}, nil
}

// Close drops idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// APIError is an error the node manager answered; its text is the line
// it sent. A 404 is vserver.ErrNotFound and a 409 vserver.ErrExists to
// errors.Is.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return vserver.ErrNotFound
	case http.StatusConflict:
		return vserver.ErrExists
	}
	return nil
}

// call sends body (when not nil) and decodes the answer into out (when
// not nil).
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://pcr-node"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("node manager on %s: %w", c.socket, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("node manager on %s: read answer: %w", c.socket, err)
	}
	if resp.StatusCode >= 300 {
		var eb apiErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("node manager on %s: %s", c.socket, resp.Status)
		}
		return &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("node manager on %s: bad answer to %s %s: %w", c.socket, method, path, err)
	}
	return nil
}

func slicePath(slice string) string { return "/v1/vservers/" + url.PathEscape(slice) }

func (c *Client) Create(ctx context.Context, spec vserver.Spec) (*vserver.VServer, error) {
	v := &vserver.VServer{}
	if err := c.call(ctx, http.MethodPost, "/v1/vservers", spec, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (c *Client) List(ctx context.Context) ([]*vserver.VServer, error) {
	var out []*vserver.VServer
	if err := c.call(ctx, http.MethodGet, "/v1/vservers", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) Get(ctx context.Context, slice string) (*vserver.VServer, error) {
	v := &vserver.VServer{}
	if err := c.call(ctx, http.MethodGet, slicePath(slice), nil, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (c *Client) Start(ctx context.Context, slice string) error {
	return c.call(ctx, http.MethodPost, slicePath(slice)+"/start", nil, nil)
}

func (c *Client) Stop(ctx context.Context, slice string) error {
	return c.call(ctx, http.MethodPost, slicePath(slice)+"/stop", nil, nil)
}

func (c *Client) Restart(ctx context.Context, slice string) error {
	return c.call(ctx, http.MethodPost, slicePath(slice)+"/restart", nil, nil)
}

func (c *Client) Remove(ctx context.Context, slice string) error {
	return c.call(ctx, http.MethodDelete, slicePath(slice), nil, nil)
}

func (c *Client) Stats(ctx context.Context, slice string) (*vserver.Stats, error) {
	st := &vserver.Stats{}
	if err := c.call(ctx, http.MethodGet, slicePath(slice)+"/stats", nil, st); err != nil {
		return nil, err
	}
	return st, nil
}

// StatsHistory is the samples the node manager kept of slice, oldest first.
func (c *Client) StatsHistory(ctx context.Context, slice string) ([]vserver.Stats, error) {
	var out []vserver.Stats
	if err := c.call(ctx, http.MethodGet, slicePath(slice)+"/stats?history=1", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Node is the node manager's status.
func (c *Client) Node(ctx context.Context) (*NodeInfo, error) {
	n := &NodeInfo{}
	if err := c.call(ctx, http.MethodGet, "/v1/node", nil, n); err != nil {
		return nil, err
	}
	return n, nil
}

var _ vserver.Service = (*Client)(nil)
