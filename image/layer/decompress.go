package layer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress picks the decoder from the stream's first bytes rather than the media type, so a
// docker-save archive that names its layers "layer.tar" but gzips them still unpacks.
// The returned func releases the decoder's goroutines.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("read layer header: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("open gzip stream: %w", err)
		}
		return &wrapErr{r: zr, what: "gzip"}, func() { zr.Close() }, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(0))
		if err != nil {
			return nil, nil, fmt.Errorf("open zstd stream: %w", err)
		}
		return &wrapErr{r: zr, what: "zstd"}, zr.Close, nil
	}
	return br, func() {}, nil
}

// wrapErr says which decoder failed, so a corrupt blob reads as "gzip: invalid checksum" rather
// than a bare tar header error.
type wrapErr struct {
	r    io.Reader
	what string
}

func (w *wrapErr) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s stream: %w", w.what, err)
	}
	return n, err
}

// Decompress returns the plain stream of r, which may be gzip, zstd or
// uncompressed (told from its first bytes), for the store's archives and the
// build's ADD as well as for layers. Call release when done with it.
func Decompress(r io.Reader) (plain io.Reader, release func(), err error) {
	return decompress(r)
}
