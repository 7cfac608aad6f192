package runtime

import (
	"os"
	"path/filepath"
	"syscall"

	"pcr/internal/fmtlite"
)

// InitBinaryName is the small executable that holds only the child side of
// the runtime (cmd/pcr-init). Installed beside pcr, it is what create and
// exec re-exec into the container's namespaces: it starts in a fraction of
// the time of the whole pcr binary, whose CLI, engine, image and authority
// packages the child never uses but would still load and initialise.
const InitBinaryName = "pcr-init"

const selfExe = "/proc/self/exe"

// initBinary picks the executable of a container's init or exec child: the
// pcr-init beside the running executable when there is a trustworthy one,
// else /proc/self/exe (pcr copied alone somewhere, a test binary; pcr-oci
// holds no init and refuses that, see Runtime.InitBinaryRequired).
//
// CVE-2019-5736: whichever it is, spawn execs a sealed view of it
// (exeseal.go), never the file itself. pcr-init is only taken when it is a
// regular file with pcr's owner, writable by no one else, in pcr's own
// directory.
func initBinary() string {
	const self = selfExe
	exe, err := os.Readlink(self)
	if err != nil || !filepath.IsAbs(exe) {
		return self // "(deleted)" or an odd procfs: stay with what runs
	}
	if p := initBinaryBeside(self, filepath.Dir(exe)); p != "" {
		return p
	}
	return self
}

// initBinaryBeside is dir's pcr-init when it may stand in for the
// executable exe: "" when it is missing, not a regular executable file,
// writable by group or others, owned by someone else, or exe itself.
func initBinaryBeside(exe, dir string) string {
	var me, it syscall.Stat_t
	path := filepath.Join(dir, InitBinaryName)
	if syscall.Stat(exe, &me) != nil || syscall.Stat(path, &it) != nil {
		return ""
	}
	if it.Mode&syscall.S_IFMT != syscall.S_IFREG || it.Mode&0o111 == 0 || it.Mode&0o022 != 0 || it.Uid != me.Uid {
		return ""
	}
	if it.Dev == me.Dev && it.Ino == me.Ino {
		return "" // a hard link to pcr: nothing to gain
	}
	return path
}

// requireInitBinary is the pcr-init beside the running executable, or an
// error that says where it was looked for and what it must be.
func requireInitBinary() (string, error) {
	if p := initBinary(); p != selfExe {
		return p, nil
	}
	exe, err := os.Readlink(selfExe)
	if err != nil {
		exe = selfExe
	}
	name := filepath.Base(exe)
	return "", fmtlite.Errorf("%s needs %s beside it (a regular executable file with %s's owner, writable by no one else): it runs every container's init from there",
		name, filepath.Join(filepath.Dir(exe), InitBinaryName), name)
}

// checkInitBinary fails, when this executable holds no container init,
// unless there is a pcr-init to run instead.
func (r *Runtime) checkInitBinary() error {
	if !r.InitBinaryRequired {
		return nil
	}
	_, err := requireInitBinary()
	return err
}
