// Package layer turns OCI image layers into overlayfs lower directories and back:
// Apply unpacks a layer blob, Diff writes a container's upper directory as a layer,
// Mount and Unmount stack the unpacked directories with overlayfs.
package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
)

// ErrUnsafeEntry marks a layer entry refused because it would write outside the layer
// directory or is not permitted (a device node under NoDevices). Test with errors.Is.
var ErrUnsafeEntry = errors.New("unsafe layer entry")

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Lowers are the unpacked directories of the layers below this one, top first. An entry whose
	// parent path goes through a symlink that a lower layer (or this same layer, earlier) placed is refused.
	Lowers []string
	// NoDevices refuses char/block device nodes (rootless, user namespaces). Overlay whiteouts are not devices.
	NoDevices bool
}

// Applied is what Apply measured.
type Applied struct {
	DiffID digest.Digest // sha256 of the uncompressed tar stream
	Size   int64         // bytes of the uncompressed tar
}

// Apply unpacks one layer (plain tar, gzip or zstd, detected from the stream's magic bytes) into dir,
// which must exist and be empty. On error dir may hold partial content: the caller removes it.
//
// OCI whiteouts become overlayfs whiteouts: `.wh.NAME` is a 0/0 character device NAME and
// `.wh..wh..opq` sets trusted.overlay.opaque=y on its directory. Both need root in the initial
// user namespace; a rootless store would write user.overlay.opaque and mount with userxattr.
// The layer's own trusted.overlay.* xattrs are dropped: only Apply decides what overlay sees.
//
// dir is made 0755 first, as overlay shows the attributes of the topmost layer's root; a
// "./" entry in the layer overrides that.
func Apply(r io.Reader, dir string, o ApplyOptions) (Applied, error) {
	if err := checkEmpty(dir); err != nil {
		return Applied{}, fmt.Errorf("unpack layer into %s: %w", dir, err)
	}
	plain, closeDecoder, err := decompress(r)
	if err != nil {
		return Applied{}, fmt.Errorf("unpack layer: %w", err)
	}
	defer closeDecoder()

	m := newReadAhead(plain)
	// Runs before closeDecoder (deferred earlier): the producer must be gone first.
	defer m.close()
	x, err := newExtractor(dir, o)
	if err != nil {
		return Applied{}, fmt.Errorf("unpack layer into %s: %w", dir, err)
	}
	defer x.close()

	tr := tar.NewReader(m)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Applied{}, fmt.Errorf("unpack layer: read tar: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return Applied{}, fmt.Errorf("unpack layer: entry %q: %w", hdr.Name, err)
		}
	}
	if err := x.finish(); err != nil {
		return Applied{}, fmt.Errorf("unpack layer: %w", err)
	}
	// The digest covers the whole uncompressed stream, tar's zero blocks and any padding included;
	// draining also makes the gzip reader check its trailing CRC.
	if _, err := io.CopyBuffer(io.Discard, m, x.buf); err != nil {
		return Applied{}, fmt.Errorf("unpack layer: read trailer: %w", err)
	}
	sum, size := m.sum()
	return Applied{DiffID: digest.NewDigestFromBytes(digest.SHA256, sum), Size: size}, nil
}

func checkEmpty(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return err
	}
	if len(names) > 0 {
		return errors.New("directory is not empty")
	}
	return nil
}
