package image

import (
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"pcr/image/layer"
)

// chainIDs computes the image-spec chain IDs of a stack of diff IDs, base
// first: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
func chainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}

// shortName is the layer's entry under layers/l: 26 base32 characters of
// the chain ID. Being derived, two processes unpacking the same layer agree
// on it; being short, overlay's lowerdir string fits ~80 layers in a page.
func shortName(chain digest.Digest) string {
	b, err := hexDecode(chain.Encoded())
	if err != nil {
		b = []byte(chain.Encoded())
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:26]
}

func hexDecode(s string) ([]byte, error) {
	out := make([]byte, len(s)/2)
	for i := range out {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		out[i] = byte(v)
	}
	return out, nil
}

func (s *Store) layerDir(chain digest.Digest) string {
	return filepath.Join(s.layersDir, chain.Encoded())
}

// layer reads the metadata of an unpacked layer.
func (s *Store) layer(chain digest.Digest) (Layer, error) {
	dir := s.layerDir(chain)
	diffID, err := os.ReadFile(filepath.Join(dir, "diffid"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Layer{}, fmt.Errorf("layer %s is not unpacked: %w", chain, ErrNotFound)
		}
		return Layer{}, fmt.Errorf("layer %s: %w", chain, err)
	}
	sizeData, err := os.ReadFile(filepath.Join(dir, "size"))
	if err != nil {
		return Layer{}, fmt.Errorf("layer %s: %w", chain, err)
	}
	size, _ := strconv.ParseInt(strings.TrimSpace(string(sizeData)), 10, 64)
	return Layer{
		ChainID: chain,
		DiffID:  digest.Digest(strings.TrimSpace(string(diffID))),
		Dir:     filepath.Join(dir, "diff"),
		Link:    filepath.Join(s.layersDir, "l", shortName(chain)),
		Size:    size,
	}, nil
}

// unpackLayer unpacks one layer stream on top of parents (base first) and
// returns it. With wantDiffID set and that chain already unpacked, it only
// drains nothing and returns the existing layer; otherwise the stream is
// applied into layers/tmp-*, checked against wantDiffID, and renamed to
// layers/<chain> — so a half-unpacked layer is never visible under its
// name. created tells whether this call made the layer.
func (s *Store) unpackLayer(r io.Reader, parents []Layer, wantDiffID digest.Digest) (l Layer, created bool, err error) {
	var parentChain digest.Digest
	if len(parents) > 0 {
		parentChain = parents[len(parents)-1].ChainID
	}
	chainOf := func(diffID digest.Digest) digest.Digest {
		if parentChain == "" {
			return diffID
		}
		return digest.FromString(parentChain.String() + " " + diffID.String())
	}
	if wantDiffID != "" {
		if l, err := s.layer(chainOf(wantDiffID)); err == nil {
			return l, false, s.ensureLink(l.ChainID)
		}
	}
	tmp, err := os.MkdirTemp(s.layersDir, "tmp-")
	if err != nil {
		return Layer{}, false, fmt.Errorf("unpack layer: %w", err)
	}
	defer func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}()
	diff := filepath.Join(tmp, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return Layer{}, false, fmt.Errorf("unpack layer: %w", err)
	}
	lowers := make([]string, 0, len(parents))
	for i := len(parents) - 1; i >= 0; i-- {
		lowers = append(lowers, parents[i].Dir)
	}
	what := "layer"
	if wantDiffID != "" {
		what = "layer " + wantDiffID.String()
	}
	applied, err := layer.Apply(r, diff, layer.ApplyOptions{Lowers: lowers})
	if err != nil {
		return Layer{}, false, fmt.Errorf("unpack %s: %w", what, err)
	}
	if wantDiffID != "" && applied.DiffID != wantDiffID {
		return Layer{}, false, fmt.Errorf("unpack %s: content digest is %s: the layer does not match the image config", what, applied.DiffID)
	}
	chain := chainOf(applied.DiffID)
	meta := map[string]string{
		"diffid": applied.DiffID.String(),
		"parent": parentChain.String(),
		"size":   strconv.FormatInt(applied.Size, 10),
		"link":   shortName(chain),
	}
	for name, v := range meta {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(v+"\n"), 0o644); err != nil {
			return Layer{}, false, fmt.Errorf("unpack %s: %w", what, err)
		}
	}
	target := s.layerDir(chain)
	if err := os.Rename(tmp, target); err != nil {
		if _, serr := os.Stat(filepath.Join(target, "diffid")); serr != nil {
			return Layer{}, false, fmt.Errorf("unpack %s: %w", what, err)
		}
		// A concurrent unpack of the same layer won the rename; use its copy.
	} else {
		tmp = ""
		created = true
	}
	if err := s.ensureLink(chain); err != nil {
		return Layer{}, created, err
	}
	l, err = s.layer(chain)
	return l, created, err
}

// ensureLink makes layers/l/<short> point at the layer's diff directory. It
// runs on every use of a layer, so a process killed between the layer's
// rename and its link leaves nothing a later user does not repair.
func (s *Store) ensureLink(chain digest.Digest) error {
	link := filepath.Join(s.layersDir, "l", shortName(chain))
	target := filepath.Join("..", chain.Encoded(), "diff")
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	tmp := filepath.Join(s.layersDir, "l", "tmp-"+shortName(chain)+"-"+strconv.Itoa(os.Getpid()))
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link layer %s: %w", chain, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link layer %s: %w", chain, err)
	}
	return nil
}

// removeLayer deletes an unpacked layer: first renamed out of its name so
// that a removal cut short never leaves a half-deleted layer that looks whole.
func (s *Store) removeLayer(chain digest.Digest) error {
	os.Remove(filepath.Join(s.layersDir, "l", shortName(chain)))
	dir := s.layerDir(chain)
	tmp := filepath.Join(s.layersDir, "tmp-rm-"+chain.Encoded())
	if err := os.Rename(dir, tmp); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove layer %s: %w", chain, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove layer %s: %w", chain, err)
	}
	return nil
}
