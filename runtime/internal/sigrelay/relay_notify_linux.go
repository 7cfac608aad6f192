//go:build !amd64 && !arm64

package sigrelay

import (
	"errors"
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// On other architectures, os/signal.

var process struct {
	sync.Mutex
	held bool
}

// Relay holds a set of signals for one caller until Stop.
type Relay struct {
	ch   chan os.Signal
	stop chan struct{}
	done chan struct{}
}

// Start takes sigs from the Go runtime and calls fn with each as it
// arrives, on a goroutine of the relay's own, until Stop.
func Start(sigs []unix.Signal, fn func(unix.Signal)) (*Relay, error) {
	process.Lock()
	defer process.Unlock()
	if process.held {
		return nil, errors.New("relay signals: another relay holds them")
	}
	rl := &Relay{ch: make(chan os.Signal, 32), stop: make(chan struct{}), done: make(chan struct{})}
	for _, s := range sigs {
		signal.Notify(rl.ch, s)
	}
	process.held = true
	go func() {
		defer close(rl.done)
		for {
			select {
			case s := <-rl.ch:
				fn(s.(unix.Signal))
			case <-rl.stop:
				return
			}
		}
	}()
	return rl, nil
}

// Stop gives the signals back; fn is not called again when it returns.
func (rl *Relay) Stop() {
	process.Lock()
	defer process.Unlock()
	signal.Stop(rl.ch)
	close(rl.stop)
	<-rl.done
	process.held = false
}
