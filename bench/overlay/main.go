// Command overlay times an overlay mount plus its unmount for bench/image.sh: pcr's
// layer.Mount/layer.Unmount (the new mount API with one "lowerdir+" per layer where the kernel
// has it) against a bare mount(2) with the classic option string, for several lower counts.
//
//	overlay -dir DIR -n N -lowers 1,2,8,32
//
// It must run in a private mount namespace (bench/image.sh starts it under unshare -m), so
// that a mount it leaves on an error goes with the namespace. It prints one line per case:
// LOWERS<TAB>IMPL<TAB>MICROSECONDS per mount+unmount (the median of the means of chunks of ten).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"pcr/image/layer"
)

func main() {
	dir := flag.String("dir", "", "scratch directory (lowers, upper, work, target)")
	n := flag.Int("n", 200, "mount+unmount cycles per case")
	lowers := flag.String("lowers", "1,2,8,32", "lower layer counts, comma-separated")
	flag.Parse()
	if *dir == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "usage: overlay -dir DIR [-n N] [-lowers 1,2,8,32]")
		os.Exit(2)
	}
	for _, s := range strings.Split(*lowers, ",") {
		k, err := strconv.Atoi(s)
		if err == nil && k < 1 {
			err = fmt.Errorf("not a positive count")
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "overlay: lower count %q: %v\n", s, err)
			os.Exit(2)
		}
		if err := bench(*dir, k, *n); err != nil {
			fmt.Fprintln(os.Stderr, "overlay:", err)
			os.Exit(1)
		}
	}
}

// chunk is how many cycles one implementation runs before the other takes its turn.
const chunk = 10

// bench times both ways of mounting K lowers with an upper, N times each, on fresh dirs.
func bench(dir string, k, n int) error {
	o, err := makeDirs(filepath.Join(dir, fmt.Sprintf("k%d", k)), k)
	if err != nil {
		return err
	}
	cases := []struct {
		name    string
		mount   func() error
		unmount func() error
	}{
		{"pcr layer.Mount+Unmount", func() error { return layer.Mount(o) }, func() error { return layer.Unmount(o.Target) }},
		{"mount(2)+umount(2)", func() error { return rawMount(o) }, func() error { return unix.Unmount(o.Target, 0) }},
	}
	cycle := func(j int) error {
		if err := cases[j].mount(); err != nil {
			return fmt.Errorf("%d lowers, %s: mount: %w", k, cases[j].name, err)
		}
		if err := cases[j].unmount(); err != nil {
			return fmt.Errorf("%d lowers, %s: unmount: %w", k, cases[j].name, err)
		}
		return nil
	}
	// A few untimed cycles first: the first mounts of a case pay for lookups and caches.
	for j := range cases {
		for i := 0; i < 5; i++ {
			if err := cycle(j); err != nil {
				return err
			}
		}
	}
	// The two take turns, ten cycles at a time, so that a slow spell of this shared machine falls
	// on both; each one's figure is the median of its chunks' means, which a single stall (one
	// unmount waiting on a flush) does not move.
	chunks := make([][]time.Duration, len(cases))
	for done := 0; done < n; done += chunk {
		for j := range cases {
			m := min(chunk, n-done)
			start := time.Now()
			for i := 0; i < m; i++ {
				if err := cycle(j); err != nil {
					return err
				}
			}
			chunks[j] = append(chunks[j], time.Since(start)/time.Duration(m))
		}
	}
	for j, c := range cases {
		slices.Sort(chunks[j])
		med := chunks[j][len(chunks[j])/2]
		fmt.Printf("%d\t%s\t%.1f\n", k, c.name, float64(med.Nanoseconds())/1e3)
	}
	return nil
}

// makeDirs makes K lowers with a file each, an upper, a work dir and a target under dir.
func makeDirs(dir string, k int) (layer.Overlay, error) {
	o := layer.Overlay{Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"), Target: filepath.Join(dir, "merged")}
	for i := 0; i < k; i++ {
		// top first, as layer.Overlay wants them
		o.Lowers = append(o.Lowers, filepath.Join(dir, fmt.Sprintf("l%02d", k-1-i)))
	}
	for _, d := range append([]string{o.Upper, o.Work, o.Target}, o.Lowers...) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return o, fmt.Errorf("make %s: %w", d, err)
		}
	}
	for i, l := range o.Lowers {
		if err := os.WriteFile(filepath.Join(l, fmt.Sprintf("f%02d", i)), []byte("x\n"), 0o644); err != nil {
			return o, fmt.Errorf("fill lower %s: %w", l, err)
		}
	}
	return o, nil
}

func rawMount(o layer.Overlay) error {
	data := "lowerdir=" + strings.Join(o.Lowers, ":") + ",upperdir=" + o.Upper + ",workdir=" + o.Work
	return unix.Mount("overlay", o.Target, "overlay", 0, data)
}
