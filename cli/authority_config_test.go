package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeConfig(t *testing.T, xdg, body string) string {
	t.Helper()
	p := filepath.Join(xdg, "pcr", "authority.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCredentialsFlagsOverEnvOverFile(t *testing.T) {
	xdg := t.TempDir()
	writeConfig(t, xdg, `{"authority":"https://file:1","ca":"/file/ca.crt","cert":"/file/u.crt","key":"/file/u.key"}`)
	env := map[string]string{"XDG_CONFIG_HOME": xdg, "PCR_CA": "/env/ca.crt", "PCR_CERT": "/env/u.crt"}
	got, err := resolveCreds(authorityCreds{Cert: "/flag/u.crt"}, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	want := authorityCreds{URL: "https://file:1", CA: "/env/ca.crt", Cert: "/flag/u.crt", Key: "/file/u.key"}
	if got != want {
		t.Fatalf("resolved %+v, want %+v", got, want)
	}
}

func TestCredentialsConfigRelativeToItsDirectory(t *testing.T) {
	home := t.TempDir()
	p := writeConfig(t, filepath.Join(home, ".config"), `{"authority":"https://a:7443","ca":"ca.crt","cert":"me/u.crt","key":"/abs/u.key"}`)
	got, err := resolveCreds(authorityCreds{}, envOf(map[string]string{"HOME": home}))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	want := authorityCreds{URL: "https://a:7443", CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "me/u.crt"), Key: "/abs/u.key"}
	if got != want {
		t.Fatalf("resolved %+v, want %+v", got, want)
	}
}

func TestCredentialsMissingNamesAllThreeWays(t *testing.T) {
	xdg := t.TempDir()
	_, err := resolveCreds(authorityCreds{CA: "/x/ca.crt"}, envOf(map[string]string{"XDG_CONFIG_HOME": xdg, "PCR_KEY": "/x/k"}))
	if err == nil {
		t.Fatal("resolved credentials from nothing")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, want := range []string{"missing --authority, --cert:", "--authority --ca --cert --key", "PCR_AUTHORITY PCR_CA PCR_CERT PCR_KEY",
		filepath.Join(xdg, "pcr", "authority.json")} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

func TestCredentialsBadConfigNamesTheFile(t *testing.T) {
	xdg := t.TempDir()
	p := writeConfig(t, xdg, `{"authority": `)
	_, err := resolveCreds(authorityCreds{}, envOf(map[string]string{"XDG_CONFIG_HOME": xdg}))
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("bad config: %v, want an error naming %s", err, p)
	}
}
