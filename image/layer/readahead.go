package layer

import (
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"sync"
)

// readAhead decompresses and hashes the layer stream on its own goroutine, a few MiB ahead of
// the extractor, so decoding and SHA-256 overlap with the file-creation syscalls that dominate
// unpacking instead of adding to them.
type readAhead struct {
	full   chan []byte
	free   chan []byte
	stop   chan struct{}
	done   sync.WaitGroup
	cur    []byte
	buf    []byte
	h      hash.Hash
	n      int64
	err    error // set by the producer before it closes full
	closed sync.Once
}

const (
	chunkSize = 1 << 20
	chunks    = 4
)

func newReadAhead(src io.Reader) *readAhead {
	r := &readAhead{
		full: make(chan []byte, chunks),
		free: make(chan []byte, chunks),
		stop: make(chan struct{}),
		h:    sha256.New(),
	}
	for range chunks {
		r.free <- make([]byte, chunkSize)
	}
	r.done.Add(1)
	go r.produce(src)
	return r
}

func (r *readAhead) produce(src io.Reader) {
	defer r.done.Done()
	defer close(r.full)
	for {
		var buf []byte
		select {
		case buf = <-r.free:
		case <-r.stop:
			r.err = errors.New("read-ahead stopped")
			return
		}
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			r.h.Write(buf[:n])
			r.n += int64(n)
			select {
			case r.full <- buf[:n]:
			case <-r.stop:
				r.err = errors.New("read-ahead stopped")
				return
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			// ReadFull's ErrUnexpectedEOF only means a short last chunk; a decoder that
			// truncates reports its own wrapped error instead.
			r.err = io.EOF
			return
		}
		if err != nil {
			r.err = err
			return
		}
	}
}

func (r *readAhead) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.buf != nil {
			r.free <- r.buf[:cap(r.buf)]
			r.buf = nil
		}
		b, ok := <-r.full
		if !ok {
			return 0, r.err
		}
		r.cur, r.buf = b, b
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// close stops the producer and waits for it, so the decoder under it can be released.
func (r *readAhead) close() {
	r.closed.Do(func() { close(r.stop) })
	r.done.Wait()
}

// sum returns the digest and size of everything read; valid once Read returned io.EOF.
func (r *readAhead) sum() ([]byte, int64) {
	return r.h.Sum(nil), r.n
}
