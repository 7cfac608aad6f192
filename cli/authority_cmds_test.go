package cli

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pcr/cli/ocicli"
	"pcr/slices/api"
	"pcr/slices/ca"
)

// fakeAuthority speaks the authority's wire protocol over mTLS with a
// real CA, holding slices in memory: enough to drive the CLI end to end.
type fakeAuthority struct {
	t   *testing.T
	ca  *ca.CA
	srv *httptest.Server

	mu          sync.Mutex
	slices      []api.Slice
	calls       []string
	execResults []api.ExecResult
	lastExec    api.ExecRequest
}

func startFakeAuthority(t *testing.T, authority *ca.CA) *fakeAuthority {
	t.Helper()
	f := &fakeAuthority{t: t, ca: authority}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/slices", f.auth(func(w http.ResponseWriter, r *http.Request, id ca.Identity) {
		var in api.CreateSlice
		if !decode(w, r, &in) {
			return
		}
		for _, s := range f.slices {
			if s.Name == in.Name {
				refuse(w, http.StatusConflict, "slice "+in.Name+" already exists")
				return
			}
		}
		s := api.Slice{Name: in.Name, Site: strings.SplitN(in.Name, "_", 2)[0], Owners: in.Owners, Image: in.Image,
			Rspec: in.Rspec, Nodes: in.Nodes, Expires: in.Expires, Created: time.Now(), CreatedBy: id.Name}
		if s.Expires.IsZero() {
			s.Expires = time.Now().Add(api.DefaultLifetime)
		}
		f.slices = append(f.slices, s)
		answer(w, s)
	}))
	mux.HandleFunc("GET /v1/slices", f.auth(func(w http.ResponseWriter, r *http.Request, id ca.Identity) {
		answer(w, f.slices)
	}))
	mux.HandleFunc("POST /v1/slices/{name}/exec", f.auth(func(w http.ResponseWriter, r *http.Request, id ca.Identity) {
		if !decode(w, r, &f.lastExec) {
			return
		}
		answer(w, f.execResults)
	}))
	mux.HandleFunc("POST /v1/users", f.auth(func(w http.ResponseWriter, r *http.Request, id ca.Identity) {
		var in api.AddUser
		if !decode(w, r, &in) {
			return
		}
		if id.Role != ca.RoleAdmin {
			refuse(w, http.StatusForbidden, "only an admin may add users")
			return
		}
		cert, err := f.ca.Issue(ca.Identity{Name: in.Name, Site: in.Site, Role: ca.Role(in.Role)}, []byte(in.CSR), time.Hour)
		if err != nil {
			refuse(w, http.StatusBadRequest, err.Error())
			return
		}
		answer(w, api.Issued{Certificate: string(cert), CA: string(f.ca.CertPEM())})
	}))
	f.srv = httptest.NewUnstartedServer(mux)
	cert, err := authority.ServerCertificate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.TLS = ca.ServerTLS(authority, cert)
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAuthority) auth(h func(http.ResponseWriter, *http.Request, ca.Identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := ca.RequireClient(r)
		if err != nil {
			refuse(w, http.StatusUnauthorized, err.Error())
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path+" by "+id.String())
		h(w, r, id)
	}
}

func (f *fakeAuthority) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		refuse(w, http.StatusBadRequest, "bad request: "+err.Error())
		return false
	}
	return true
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Error{Error: msg})
}

// runPCR runs the pcr app in this process, as the binary would.
func runPCR(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	app := NewApp("test")
	var out, errb bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errb
	app.Metadata = map[string]any{}
	err = app.Run(append([]string{"pcr"}, args...))
	return out.String(), errb.String(), err
}

// isolateCredentials keeps the developer's own environment and config
// out of a test.
func isolateCredentials(t *testing.T) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, k := range []string{"PCR_AUTHORITY", "PCR_CA", "PCR_CERT", "PCR_KEY"} {
		t.Setenv(k, "")
	}
}

// initAuthority runs `pcr authority init` in a fresh root, starts a fake
// authority on its CA and exports the admin's credentials as init says.
func initAuthority(t *testing.T) (root string, f *fakeAuthority) {
	t.Helper()
	isolateCredentials(t)
	root = t.TempDir()
	out, _, err := runPCR(t, "--root", root, "authority", "init")
	if err != nil {
		t.Fatalf("authority init: %v", err)
	}
	authority, err := ca.Load(filepath.Join(root, "authority", "ca"))
	if err != nil {
		t.Fatal(err)
	}
	f = startFakeAuthority(t, authority)
	exports := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			exports[k] = v
		}
	}
	if exports["PCR_AUTHORITY"] != defaultAuthorityURL {
		t.Errorf("init suggests PCR_AUTHORITY=%q, want %s", exports["PCR_AUTHORITY"], defaultAuthorityURL)
	}
	for _, k := range []string{"PCR_CA", "PCR_CERT", "PCR_KEY"} {
		if exports[k] == "" {
			t.Fatalf("init printed no export for %s:\n%s", k, out)
		}
		t.Setenv(k, exports[k])
	}
	t.Setenv("PCR_AUTHORITY", f.srv.URL)
	return root, f
}

func TestAuthorityInitWritesAdminCredentialsOnce(t *testing.T) {
	root, _ := initAuthority(t)
	adminDir := filepath.Join(root, "authority", "admin")
	for name, mode := range map[string]os.FileMode{"": 0o700, "admin.key": 0o600, "admin.crt": 0o644, "ca.crt": 0o644} {
		fi, err := os.Stat(filepath.Join(adminDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", filepath.Join(adminDir, name), fi.Mode().Perm(), mode)
		}
	}
	_, _, err := runPCR(t, "--root", root, "authority", "init")
	if err == nil || !strings.Contains(err.Error(), "already exists (a CA is already there; refusing to replace it)") {
		t.Fatalf("second init: %v, want the CA's refusal", err)
	}
}

func TestSliceCreateAndListEndToEnd(t *testing.T) {
	_, f := initAuthority(t)
	out, _, err := runPCR(t, "slice", "create", "princeton_codeen", "--image", "debian-php", "--nodes", "n1,n2",
		"--memory", "256M", "--cpu-cores", "0.5", "--owner", "alice", "--owner", "bob,carol", "--expires", "3d")
	if err != nil {
		t.Fatalf("slice create: %v", err)
	}
	if out != "princeton_codeen\n" {
		t.Errorf("slice create printed %q, want the slice name", out)
	}
	if calls := f.callLog(); len(calls) != 1 || calls[0] != "POST /v1/slices by admin admin" {
		t.Errorf("calls %q, want one create by the admin", calls)
	}
	f.mu.Lock()
	s := f.slices[0]
	f.mu.Unlock()
	if strings.Join(s.Nodes, ",") != "n1,n2" || strings.Join(s.Owners, ",") != "alice,bob,carol" ||
		s.Rspec.Memory != 256<<20 || s.Rspec.CPUCores != 0.5 || s.Image != "debian-php" {
		t.Errorf("authority got %+v", s)
	}
	if d := time.Until(s.Expires); d < 71*time.Hour || d > 72*time.Hour {
		t.Errorf("expires in %v, want 3 days", d)
	}

	_, _, err = runPCR(t, "slice", "create", "princeton_codeen", "--image", "debian-php", "--nodes", "n1")
	if err == nil || err.Error() != "slice princeton_codeen already exists" {
		t.Errorf("second create: %v, want the authority's one line", err)
	}

	out, _, err = runPCR(t, "slice", "ls")
	if err != nil {
		t.Fatalf("slice ls: %v", err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("slice ls:\n%s", out)
	}
	if got := strings.Join(strings.Fields(lines[1]), " "); got != "princeton_codeen n1,n2 debian-php in 3d alice,bob,carol running-requested" {
		t.Errorf("slice ls row %q", got)
	}
	if out, _, err = runPCR(t, "slice", "ls", "-q"); err != nil || out != "princeton_codeen\n" {
		t.Errorf("slice ls -q: %q %v", out, err)
	}
}

func TestSliceCreateChecksNameBeforeAnything(t *testing.T) {
	isolateCredentials(t)
	_, _, err := runPCR(t, "slice", "create", "Bad-Name", "--image", "busybox")
	if err == nil || !strings.HasPrefix(err.Error(), `invalid slice name "Bad-Name"`) {
		t.Fatalf("bad name: %v", err)
	}
	_, _, err = runPCR(t, "slice", "create", "princeton_x", "--image", "busybox")
	if err == nil || !strings.HasPrefix(err.Error(), "no authority credentials: missing --authority, --ca, --cert, --key") {
		t.Fatalf("no credentials: %v", err)
	}
}

func TestSliceExecExitAndPrefixes(t *testing.T) {
	_, f := initAuthority(t)
	f.execResults = []api.ExecResult{{Node: "n1", Stdout: "hello\n"}, {Node: "n2", ExitCode: 7, Stderr: "boom\n"}}
	out, errOut, err := runPCR(t, "slice", "exec", "princeton_codeen", "--all", "--timeout", "90s", "--", "sh", "-c", "echo hello")
	if code, ok := ocicli.ExitCode(err); !ok || code != 7 {
		t.Fatalf("exec: %v, want exit status 7", err)
	}
	if out != "n1: hello\n" || errOut != "n2: boom\n" {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	f.mu.Lock()
	got := f.lastExec
	f.mu.Unlock()
	if !got.All || got.Timeout != 90 || strings.Join(got.Cmd, " ") != "sh -c echo hello" {
		t.Errorf("authority got %+v", got)
	}
	if _, _, err := runPCR(t, "slice", "exec", "princeton_codeen", "--", "true"); err == nil || !strings.Contains(err.Error(), "exactly one of --node NODE and --all") {
		t.Errorf("exec without --node or --all: %v", err)
	}
}

func TestAddUserWritesCredentialsAndRefusesToOverwrite(t *testing.T) {
	_, f := initAuthority(t)
	out := t.TempDir()
	stdout, _, err := runPCR(t, "authority", "add-user", "alice", "--role", "user", "--site", "princeton", "--out", out)
	if err != nil {
		t.Fatalf("add-user: %v", err)
	}
	want := strings.Join([]string{filepath.Join(out, "alice.crt"), filepath.Join(out, "alice.key"), filepath.Join(out, "ca.crt")}, "\n") + "\n"
	if stdout != want {
		t.Errorf("add-user printed %q, want %q", stdout, want)
	}
	if fi, err := os.Stat(filepath.Join(out, "alice.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("alice.key: %v %v, want mode 0600", fi, err)
	}
	// The files are a working identity: ClientTLS checks the pair, the CA
	// and the identity in the certificate.
	if _, err := ca.ClientTLS(filepath.Join(out, "ca.crt"), filepath.Join(out, "alice.crt"), filepath.Join(out, "alice.key")); err != nil {
		t.Fatalf("written credentials do not load: %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(out, "alice.crt"))
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := ca.IdentityOf(cert); err != nil || id.String() != "user alice@princeton" {
		t.Errorf("certificate identity %v %v", id, err)
	}

	before := len(f.callLog())
	_, _, err = runPCR(t, "authority", "add-user", "alice", "--out", out, "--role", "user", "--site", "princeton")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(out, "alice.crt")+" already exists: refusing to overwrite it") {
		t.Fatalf("second add-user: %v, want a refusal to overwrite", err)
	}
	if after := len(f.callLog()); after != before {
		t.Errorf("a refused add-user still called the authority")
	}
	if again, _ := os.ReadFile(filepath.Join(out, "alice.crt")); !bytes.Equal(again, data) {
		t.Errorf("alice.crt was changed")
	}
	// A second user may share the directory's ca.crt.
	if _, _, err := runPCR(t, "authority", "add-user", "bob", "--out", out, "--role", "pi", "--site", "princeton"); err != nil {
		t.Errorf("second user beside the first: %v", err)
	}
}

func TestAuthorityRefusalIsItsOneLine(t *testing.T) {
	_, f := initAuthority(t)
	dir := t.TempDir()
	pi, key, err := f.ca.IssueKeyPair(ca.Identity{Name: "pat", Site: "princeton", Role: ca.RolePI}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "pat.crt"), pi, 0o644)
	os.WriteFile(filepath.Join(dir, "pat.key"), key, 0o600)
	_, _, err = runPCR(t, "authority", "add-user", "eve", "--role", "user", "--site", "princeton", "--out", dir,
		"--cert", filepath.Join(dir, "pat.crt"), "--key", filepath.Join(dir, "pat.key"))
	if err == nil || err.Error() != "only an admin may add users" {
		t.Fatalf("add-user as a PI: %v, want the authority's refusal", err)
	}
}

func TestAuthorityServeNamesMissingBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(self), "pcr-authority")); err == nil {
		t.Fatalf("pcr-authority unexpectedly next to the test binary %s", self)
	}
	_, _, err = runPCR(t, "--root", t.TempDir(), "authority", "serve", "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "bin/pcr-authority not found next to ") || !strings.HasSuffix(err.Error(), ": run make build") {
		t.Fatalf("serve without the binary: %v", err)
	}
}

// pcr must not link etcd: the authority's store lives in pcr-authority.
func TestPcrBinaryHasNoEtcd(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "pcr").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps pcr: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "etcd") {
			t.Errorf("pcr depends on %s", p)
		}
	}
}

func TestAuthorityInitTakesBackCAWhenAdminCannotBeWritten(t *testing.T) {
	isolateCredentials(t)
	root := t.TempDir()
	adminDir := filepath.Join(root, "authority", "admin")
	if err := os.MkdirAll(adminDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(adminDir, "admin.key"), []byte("someone's key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runPCR(t, "--root", root, "authority", "init")
	if err == nil || !strings.Contains(err.Error(), "admin.key already exists: refusing to overwrite it") {
		t.Fatalf("init over an admin key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "authority", "ca", "ca.crt")); err == nil {
		t.Errorf("a CA without an admin was left behind")
	}
	if err := os.Remove(filepath.Join(adminDir, "admin.key")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runPCR(t, "--root", root, "authority", "init"); err != nil {
		t.Errorf("init after clearing the way: %v", err)
	}
}
