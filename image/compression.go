package image

import (
	"bufio"
	"bytes"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

type compression int

const (
	uncompressed compression = iota
	gzipped
	zstded
)

// sniff peeks at the stream's magic bytes without consuming them, to name
// a stored layer blob's media type; decompressing is layer.Decompress's.
func sniff(r io.Reader) (compression, *bufio.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return gzipped, br
	case bytes.HasPrefix(head, zstdMagic):
		return zstded, br
	}
	return uncompressed, br
}

// layerMediaType names a layer blob's media type from its magic bytes.
func layerMediaType(c compression) string {
	switch c {
	case gzipped:
		return ocispec.MediaTypeImageLayerGzip
	case zstded:
		return ocispec.MediaTypeImageLayerZstd
	}
	return ocispec.MediaTypeImageLayer
}
