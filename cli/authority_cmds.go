package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"pcr/slices/api"
	"pcr/slices/ca"
)

// adminValidity is how long the first admin's certificate lasts.
const adminValidity = 365 * 24 * time.Hour

// authorityCommands are `pcr authority …`: making and running the slice
// authority, and an admin's calls on its users and nodes.
func authorityCommands() []*ucli.Command {
	return []*ucli.Command{{
		Name:  "authority",
		Usage: "the slice authority: its CA, its server, its users and nodes",
		Subcommands: []*ucli.Command{
			authorityInitCommand(), authorityServeCommand(), authorityAddUserCommand(),
			authorityAddNodeCommand(), authorityRemoveNodeCommand(),
		},
	}}
}

// authorityDir is where the authority keeps its CA, etcd data and the
// first admin's credentials.
func authorityDir(c *ucli.Context) (string, error) {
	root, err := filepath.Abs(c.String("root"))
	if err != nil {
		return "", fmt.Errorf("authority root: %w", err)
	}
	return filepath.Join(root, "authority"), nil
}

func authorityInitCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "init",
		Usage: "make the authority's CA under --root and the first admin's certificate",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "name", Value: "pcr slice authority", Usage: "the CA's common name"},
			&ucli.StringFlag{Name: "admin", Value: "admin", Usage: "the first admin's user name"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return usageErr(c, "takes no arguments")
			}
			dir, err := authorityDir(c)
			if err != nil {
				return err
			}
			admin := c.String("admin")
			caDir, adminDir := filepath.Join(dir, "ca"), filepath.Join(dir, "admin")
			files := []newFile{{"ca.crt", nil, 0o644}, {admin + ".crt", nil, 0o644}, {admin + ".key", nil, 0o600}}
			// The admin's name is checked (by making a key) before the CA
			// exists, and the new CA is taken back if its admin cannot be
			// written: a CA nobody can use would refuse the next init.
			if _, _, err := ca.NewKeyAndCSR(admin); err != nil {
				return fmt.Errorf("init authority: admin %q: %w", admin, err)
			}
			authority, err := ca.Init(caDir, c.String("name"))
			if err != nil {
				return err
			}
			paths, err := func() ([]string, error) {
				if err := refuseExisting(adminDir, files); err != nil {
					return nil, err
				}
				certPEM, keyPEM, err := authority.IssueKeyPair(ca.Identity{Name: admin, Role: ca.RoleAdmin}, adminValidity)
				if err != nil {
					return nil, err
				}
				files[0].data, files[1].data, files[2].data = authority.CertPEM(), certPEM, keyPEM
				return writeNewFiles(adminDir, files)
			}()
			if err != nil {
				os.Remove(filepath.Join(caDir, "ca.key"))
				os.Remove(filepath.Join(caDir, "ca.crt"))
				os.Remove(caDir) // only if this init left it empty
				return fmt.Errorf("init authority: %w", err)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "authority CA in %s; admin %q's certificate and key in %s\n", filepath.Join(dir, "ca"), admin, adminDir)
			fmt.Fprintf(w, "start it with: pcr --root %s authority serve\n", filepath.Dir(dir))
			fmt.Fprintln(w, "then act as its admin with:")
			fmt.Fprintf(w, "export PCR_AUTHORITY=%s\nexport PCR_CA=%s\nexport PCR_CERT=%s\nexport PCR_KEY=%s\n",
				defaultAuthorityURL, paths[0], paths[1], paths[2])
			return nil
		},
	}
}

// authorityServeFlags are passed on to pcr-authority as given; it owns
// their meaning and defaults.
func authorityServeFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "listen", Usage: "HOST:PORT to serve HTTPS on (default 127.0.0.1:7443)"},
		&ucli.StringFlag{Name: "etcd-endpoints", Usage: "an external etcd cluster, comma-separated URLs (default: an embedded etcd under --root)"},
		&ucli.StringFlag{Name: "etcd-ca", Usage: "CA certificate (PEM) of an external etcd served over TLS"},
		&ucli.StringFlag{Name: "etcd-cert", Usage: "client certificate (PEM) for an external etcd"},
		&ucli.StringFlag{Name: "etcd-key", Usage: "client key (PEM) for an external etcd"},
		&ucli.StringFlag{Name: "hosts", Usage: "names and addresses for the server certificate, comma-separated"},
		&ucli.StringFlag{Name: "staleness", Usage: "how long a node may stay silent before it is unreachable (e.g. 30s)"},
		&ucli.StringFlag{Name: "overlay-pool", Usage: "CIDR that slices' overlay subnets are taken from"},
		&ucli.StringFlag{Name: "log-format", Usage: "text or json"},
	}
}

func authorityServeCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "serve",
		Usage: "run the slice authority in the foreground (bin/pcr-authority; logs on stderr)",
		Flags: authorityServeFlags(),
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return usageErr(c, "takes no arguments")
			}
			bin, err := authorityBinary()
			if err != nil {
				return err
			}
			dir, err := authorityDir(c)
			if err != nil {
				return err
			}
			argv := []string{bin, "serve", "--root", dir}
			for _, f := range authorityServeFlags() {
				name := f.Names()[0]
				if c.IsSet(name) {
					argv = append(argv, "--"+name+"="+c.String(name))
				}
			}
			// Exec rather than a child: signals, the exit status and the
			// terminal belong to the authority, with no pcr in between.
			if err := syscall.Exec(bin, argv, os.Environ()); err != nil {
				return fmt.Errorf("authority serve: exec %s: %w", bin, err)
			}
			return nil
		},
	}
}

// authorityBinary is pcr-authority beside this pcr: kept apart so that
// bin/pcr does not carry etcd.
func authorityBinary() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("authority serve: find pcr's own path: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	bin := filepath.Join(filepath.Dir(self), "pcr-authority")
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return "", fmt.Errorf("authority serve: bin/pcr-authority not found next to %s: run make build", self)
	}
	return bin, nil
}

func authorityAddUserCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "add-user",
		Usage:     "record a user and write its certificate and key (admin)",
		ArgsUsage: "NAME",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "role", Usage: "admin, pi (acts on its site's slices) or user (required)"},
			&ucli.StringFlag{Name: "site", Usage: "the user's site (required for pi and user)"},
			&ucli.StringFlag{Name: "out", Value: ".", Usage: "directory for NAME.crt, NAME.key and ca.crt"},
		}, authorityFlags()...),
		Action: withInterspersedFlags(func(c *ucli.Context, args []string) error {
			if len(args) != 1 {
				return usageErr(c, "requires exactly one user name")
			}
			name, site := args[0], c.String("site")
			if c.String("role") == "" {
				return usageErr(c, "requires --role admin, pi or user")
			}
			role, err := ca.ParseRole(c.String("role"))
			if err != nil {
				return fmt.Errorf("add user %s: %w", name, err)
			}
			switch {
			case role == ca.RoleNode:
				return fmt.Errorf("add user %s: nodes join with a token: use pcr authority add-node", name)
			case role == ca.RoleAdmin && site != "":
				return fmt.Errorf("add user %s: an admin has no site", name)
			case role != ca.RoleAdmin && site == "":
				return usageErr(c, fmt.Sprintf("a %s needs --site", role))
			}
			cr, err := callerCreds(c)
			if err != nil {
				return err
			}
			callerCA, err := os.ReadFile(cr.CA)
			if err != nil {
				return fmt.Errorf("add user %s: read CA file: %w", name, err)
			}
			// The name is checked (by making the key) before it is used in
			// a path.
			keyPEM, csrPEM, err := ca.NewKeyAndCSR(name)
			if err != nil {
				return fmt.Errorf("add user %s: %w", name, err)
			}
			out := c.String("out")
			files := []newFile{{name + ".crt", nil, 0o644}, {name + ".key", nil, 0o600}, {"ca.crt", callerCA, 0o644}}
			if err := refuseExisting(out, files); err != nil {
				return fmt.Errorf("add user %s: %w", name, err)
			}
			cl, err := clientFor(cr)
			if err != nil {
				return err
			}
			ctx, cancel := authorityContext(c)
			defer cancel()
			issued, err := cl.AddUser(ctx, api.AddUser{Name: name, Role: string(role), Site: site, CSR: string(csrPEM)})
			if err != nil {
				return err
			}
			files[0].data, files[1].data, files[2].data = []byte(issued.Certificate), keyPEM, []byte(issued.CA)
			paths, err := writeNewFiles(out, files)
			if err != nil {
				return fmt.Errorf("add user %s: %w", name, err)
			}
			for _, p := range paths {
				fmt.Fprintln(c.App.Writer, p)
			}
			return nil
		}),
	}
}

func authorityAddNodeCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "add-node",
		Usage:     "register a node and print its one-time join token (admin)",
		ArgsUsage: "NAME",
		Flags: append([]ucli.Flag{
			&ucli.StringFlag{Name: "address", Usage: "the node's underlay address (else the one it reports)"},
		}, authorityFlags()...),
		Action: sliceAction(func(c *ucli.Context, cl *api.Client, args []string) error {
			if len(args) != 1 {
				return usageErr(c, "requires exactly one node name")
			}
			ctx, cancel := authorityContext(c)
			defer cancel()
			added, err := cl.AddNode(ctx, api.AddNode{Name: args[0], Address: c.String("address")})
			if err != nil {
				return err
			}
			// The token alone on stdout, so TOKEN=$(pcr authority add-node n) works.
			fmt.Fprintln(c.App.Writer, added.Token)
			fmt.Fprintf(c.App.ErrWriter, "on the node run: pcr node serve --authority %s --name %s --join-token %s --ca ca.crt --cert %s.crt --key %s.key\n",
				cl.URL(), args[0], added.Token, args[0], args[0])
			return nil
		}),
	}
}

func authorityRemoveNodeCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "rm-node",
		Usage:     "remove nodes (admin); their slices keep the other nodes",
		ArgsUsage: "NAME...",
		Flags:     authorityFlags(),
		Action: sliceAction(func(c *ucli.Context, cl *api.Client, args []string) error {
			if len(args) < 1 {
				return usageErr(c, "requires at least one node name")
			}
			ctx, cancel := authorityContext(c)
			defer cancel()
			return sliceEach(c, args, func(n string) error { return cl.RemoveNode(ctx, n) })
		}),
	}
}

// newFile is a credential file to write; data nil until known.
type newFile struct {
	name string
	data []byte
	mode os.FileMode
}

// refuseExisting fails on any of files already in dir, so that nothing
// is asked of the authority whose result could not be written. A file
// whose known data equals what is there (a shared ca.crt) may stay.
func refuseExisting(dir string, files []newFile) error {
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		old, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err == nil && f.data != nil && bytes.Equal(old, f.data):
			continue
		}
		return fmt.Errorf("%s already exists: refusing to overwrite it", p)
	}
	return nil
}

// writeNewFiles writes files into dir (made 0700 if missing), never over
// an existing file other than one with the same content, and removes
// what it wrote if any write fails. It returns the paths in order.
func writeNewFiles(dir string, files []newFile) ([]string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	var paths, written []string
	undo := func() {
		for _, p := range written {
			os.Remove(p)
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		paths = append(paths, p)
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, f.data) {
			continue
		}
		if err := writeExclusive(p, f.data, f.mode); err != nil {
			undo()
			return nil, err
		}
		written = append(written, p)
	}
	return paths, nil
}

func writeExclusive(path string, data []byte, mode os.FileMode) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists: refusing to overwrite it", path)
	}
	if err != nil {
		return err
	}
	_, err = fh.Write(data)
	if err == nil {
		// The mode asked, whatever the umask left of it.
		err = fh.Chmod(mode)
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
