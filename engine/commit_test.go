package engine

import (
	"reflect"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestContainerConfigKeepsRunSettings(t *testing.T) {
	base := ocispec.ImageConfig{Env: []string{"A=1", "B=2"}, Cmd: []string{"sh"}, WorkingDir: "/srv", Labels: map[string]string{"l": "1"}}
	rec := &Record{Options: Options{Env: []string{"B=3", "C=4"}, Cmd: []string{"php", "-v"}, User: "1000"}}
	cfg := containerConfig(base, rec)
	wantEnv := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=3", "C=4"}
	if !reflect.DeepEqual(cfg.Env, wantEnv) || !reflect.DeepEqual(cfg.Cmd, []string{"php", "-v"}) || cfg.WorkingDir != "/srv" || cfg.User != "1000" {
		t.Errorf("config %+v", cfg)
	}
	cfg.Labels["l"] = "changed"
	if base.Labels["l"] != "1" {
		t.Error("the committed config shares its labels with the parent's")
	}
	// --entrypoint without a command drops the image's CMD, as the run did.
	rec = &Record{Options: Options{EntrypointSet: true, Entrypoint: []string{"/bin/true"}}}
	if cfg := containerConfig(base, rec); cfg.Cmd != nil || !reflect.DeepEqual(cfg.Entrypoint, []string{"/bin/true"}) {
		t.Errorf("entrypoint run: cmd %v entrypoint %v", cfg.Cmd, cfg.Entrypoint)
	}
}

func TestApplyChanges(t *testing.T) {
	cfg := ocispec.ImageConfig{Env: []string{"HOME=/root"}, Cmd: []string{"sh"}}
	err := applyChanges(&cfg, []string{
		`CMD ["cat", "/hello"]`,
		`ENTRYPOINT echo hi`,
		`ENV X=$HOME/x Y="a b"`,
		`LABEL version=1.0`,
		`EXPOSE 80 53/udp`,
		`WORKDIR /app`,
		`WORKDIR sub`,
		`USER nobody`,
		`VOLUME /data`,
		`STOPSIGNAL SIGINT`,
	})
	mustDo(t, err)
	want := ocispec.ImageConfig{
		Env:          []string{"HOME=/root", "X=/root/x", "Y=a b"},
		Cmd:          []string{"cat", "/hello"},
		Entrypoint:   []string{"/bin/sh", "-c", "echo hi"},
		Labels:       map[string]string{"version": "1.0"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
		WorkingDir:   "/app/sub",
		User:         "nobody",
		Volumes:      map[string]struct{}{"/data": {}},
		StopSignal:   "SIGINT",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config\n got %+v\nwant %+v", cfg, want)
	}
	for _, bad := range []string{"RUN echo", "VOLUME data", "FROM x", "ENV =x"} {
		c := ocispec.ImageConfig{}
		if err := applyChanges(&c, []string{bad}); err == nil || !strings.Contains(err.Error(), "change") {
			t.Errorf("change %q: %v, want an error", bad, err)
		}
	}
}
