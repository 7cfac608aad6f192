package inroot

// DockerCapabilities returns Docker's default capability set, a fresh
// slice the caller may change. Images expect it: apt and dpkg chown, setuid
// to _apt and so on, which runc's minimal default set forbids.
func DockerCapabilities() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
}
