package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"pcr/slices/api"
	"pcr/slices/ca"
)

// authorityCallTimeout bounds one ordinary call, so that an authority
// behind a black-holed route fails the command instead of hanging it.
const authorityCallTimeout = time.Minute

// defaultAuthorityURL is where `pcr authority serve` listens unless told.
const defaultAuthorityURL = "https://127.0.0.1:7443"

// authorityCreds is where the authority is and who the caller is to it:
// its URL, the CA that verifies it, the caller's certificate and key. The
// JSON form is the config file's.
type authorityCreds struct {
	URL  string `json:"authority"`
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// credSource names one field in each of the three places it can come from.
type credSource struct {
	flag, env string
	field     func(*authorityCreds) *string
}

func credSources() []credSource {
	return []credSource{
		{"authority", "PCR_AUTHORITY", func(c *authorityCreds) *string { return &c.URL }},
		{"ca", "PCR_CA", func(c *authorityCreds) *string { return &c.CA }},
		{"cert", "PCR_CERT", func(c *authorityCreds) *string { return &c.Cert }},
		{"key", "PCR_KEY", func(c *authorityCreds) *string { return &c.Key }},
	}
}

// authorityFlags are the client credential flags of every command that
// calls the authority.
func authorityFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "authority", Usage: "the slice authority's URL, https://HOST:PORT (env PCR_AUTHORITY)"},
		&ucli.StringFlag{Name: "ca", Usage: "the authority's CA certificate file (env PCR_CA)"},
		&ucli.StringFlag{Name: "cert", Usage: "your certificate file (env PCR_CERT)"},
		&ucli.StringFlag{Name: "key", Usage: "your private key file (env PCR_KEY)"},
	}
}

// authorityConfigPath is $XDG_CONFIG_HOME/pcr/authority.json, or
// ~/.config/pcr/authority.json; "" when neither is known.
func authorityConfigPath(getenv func(string) string) string {
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "pcr", "authority.json")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "pcr", "authority.json")
	}
	return ""
}

// readAuthorityConfig reads the config file; a missing file is no
// credentials, not an error. Relative paths in it are taken from the
// file's own directory, so the file works from any working directory.
func readAuthorityConfig(path string) (authorityCreds, error) {
	var cr authorityCreds
	if path == "" {
		return cr, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cr, nil
	}
	if err != nil {
		return cr, fmt.Errorf("read authority config: %w", err)
	}
	if err := json.Unmarshal(data, &cr); err != nil {
		return cr, fmt.Errorf("read authority config %s: %v", path, err)
	}
	for _, p := range []*string{&cr.CA, &cr.Cert, &cr.Key} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(filepath.Dir(path), *p)
		}
	}
	return cr, nil
}

// resolveCreds takes each field from the flag, else the environment, else
// the config file: a flag for one call overrides a shell's exports, which
// override the standing file. Missing fields fail in one line that names
// all three ways to give them.
func resolveCreds(flags authorityCreds, getenv func(string) string) (authorityCreds, error) {
	path := authorityConfigPath(getenv)
	file, err := readAuthorityConfig(path)
	if err != nil {
		return authorityCreds{}, err
	}
	var out authorityCreds
	var missing, flagNames, envNames []string
	for _, s := range credSources() {
		dst := s.field(&out)
		for _, v := range []string{*s.field(&flags), getenv(s.env), *s.field(&file)} {
			if v != "" {
				*dst = v
				break
			}
		}
		if *dst == "" {
			missing = append(missing, "--"+s.flag)
		}
		flagNames = append(flagNames, "--"+s.flag)
		envNames = append(envNames, s.env)
	}
	if len(missing) > 0 {
		where := "a config file (~/.config/pcr/authority.json)"
		if path != "" {
			where = path
		}
		return out, fmt.Errorf("no authority credentials: missing %s: give %s, or set %s, or write {\"authority\",\"ca\",\"cert\",\"key\"} to %s",
			strings.Join(missing, ", "), strings.Join(flagNames, " "), strings.Join(envNames, " "), where)
	}
	return out, nil
}

// callerCreds are the credentials this command was given, wherever from.
func callerCreds(c *ucli.Context) (authorityCreds, error) {
	return resolveCreds(authorityCreds{URL: c.String("authority"), CA: c.String("ca"), Cert: c.String("cert"), Key: c.String("key")}, os.Getenv)
}

// authorityClient builds the mTLS client for the caller's credentials.
func authorityClient(c *ucli.Context) (*api.Client, error) {
	cr, err := callerCreds(c)
	if err != nil {
		return nil, err
	}
	return clientFor(cr)
}

func clientFor(cr authorityCreds) (*api.Client, error) {
	conf, err := ca.ClientTLS(cr.CA, cr.Cert, cr.Key)
	if err != nil {
		return nil, err
	}
	return api.NewClient(cr.URL, conf)
}

// authorityContext is the context of one ordinary authority call.
func authorityContext(c *ucli.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Context, authorityCallTimeout)
}
