package vserver

import "strings"

// containerName is the engine container that holds the vserver.
func containerName(slice string) string { return "vserver." + slice }

// hostname is the vserver's own hostname: the slice name, with the
// underscore (not valid in a hostname) as a dash.
func hostname(slice string) string { return strings.ReplaceAll(slice, "_", "-") }
