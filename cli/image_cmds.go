package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	ucli "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"pcr/engine"
	"pcr/image"
)

// imageCommands are Docker's image verbs (images, image inspect/ls/prune/rm, import, load, save,
// pull, push, tag, rmi, history).
func imageCommands() []*ucli.Command {
	return []*ucli.Command{
		imagesCommand("images"),
		{
			Name:  "image",
			Usage: "manage images",
			Subcommands: []*ucli.Command{
				imagesCommand("ls", "list"),
				imageInspectCommand(),
				rmiCommand("rm", "remove"),
				imagePruneCommand(),
				historyCommand(),
				tagCommand(),
				importCommand(),
				loadCommand(),
				saveCommand(),
				pullCommand(),
				pushCommand(),
			},
		},
		importCommand(), loadCommand(), saveCommand(), pullCommand(), pushCommand(),
		tagCommand(), rmiCommand("rmi"), historyCommand(),
	}
}

func openStore(c *ucli.Context) (*image.Store, error) {
	return image.Open(c.String("root"))
}

// imagesInUse is the engine's view of which images containers were made
// from; the store calls it under its delete lock, so a container whose
// create holds the store's use lock is counted.
func imagesInUse(c *ucli.Context) image.InUse {
	root := c.String("root")
	return func() (map[digest.Digest]bool, error) { return engine.ImagesInUse(root) }
}

func imagesCommand(name string, aliases ...string) *ucli.Command {
	return &ucli.Command{
		Name: name, Aliases: aliases, Usage: "list images", ArgsUsage: "[REPOSITORY[:TAG]]",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show intermediate images too"},
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only image IDs"},
			&ucli.BoolFlag{Name: "no-trunc", Usage: "full image IDs"},
			&ucli.StringFlag{Name: "format", Usage: "json: one JSON object per line"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 1 {
				return usageErr(c, "at most one REPOSITORY[:TAG] filter")
			}
			if f := c.String("format"); f != "" && f != "json" {
				return usageErr(c, fmt.Sprintf("unsupported --format %q (only json)", f))
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			imgs, err := s.List()
			if err != nil {
				return err
			}
			return printImages(c, imgs, c.Args().First())
		},
	}
}

type imageRow struct {
	repo, tag string
	img       *image.Image
}

// printImages lists imgs as docker images does: an untagged image another
// image was built on (a build's intermediate step) only with --all.
func printImages(c *ucli.Context, imgs []*image.Image, filter string) error {
	parents := image.WithChildren(imgs)
	var rows []imageRow
	for _, img := range imgs {
		if len(img.Names) == 0 {
			if filter == "" && (c.Bool("all") || !parents[img.ID]) {
				rows = append(rows, imageRow{"<none>", "<none>", img})
			}
			continue
		}
		for _, n := range img.Names {
			repo, tag := image.SplitName(n)
			if filter != "" && filter != repo && filter != n {
				continue
			}
			rows = append(rows, imageRow{repo, tag, img})
		}
	}
	id := func(img *image.Image) string {
		if c.Bool("no-trunc") {
			return img.ID.String()
		}
		return image.ShortID(img.ID)
	}
	w := c.App.Writer
	if c.Bool("quiet") {
		seen := map[digest.Digest]bool{}
		for _, r := range rows {
			if !seen[r.img.ID] {
				seen[r.img.ID] = true
				fmt.Fprintln(w, id(r.img))
			}
		}
		return nil
	}
	if c.String("format") == "json" {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			enc.Encode(map[string]any{
				"ID": id(r.img), "Repository": r.repo, "Tag": r.tag, "Digest": r.img.ManifestDigest.String(),
				"CreatedAt": created(r.img).Format("2006-01-02 15:04:05 -0700 MST"), "CreatedSince": since(created(r.img)),
				"Size": humanSize(r.img.Size), "VirtualSize": humanSize(r.img.Size),
			})
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.repo, r.tag, id(r.img), since(created(r.img)), humanSize(r.img.Size))
	}
	return tw.Flush()
}

func created(img *image.Image) time.Time {
	if img.Config.Created != nil {
		return *img.Config.Created
	}
	return time.Time{}
}

// since is Docker's "3 hours ago".
func since(t time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "Less than a minute ago"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	case d < 14*24*time.Hour:
		return plural(int(d.Hours()/24), "day") + " ago"
	case d < 60*24*time.Hour:
		return plural(int(d.Hours()/24/7), "week") + " ago"
	case d < 2*365*24*time.Hour:
		return plural(int(d.Hours()/24/30), "month") + " ago"
	}
	return plural(int(d.Hours()/24/365), "year") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		if unit == "hour" {
			return "About an hour"
		}
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// humanSize is Docker's decimal size: 4.26MB.
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}

func imageInspectCommand() *ucli.Command {
	return &ucli.Command{
		Name: "inspect", Usage: "show images as JSON", ArgsUsage: "IMAGE...",
		Action: func(c *ucli.Context) error {
			if c.NArg() == 0 {
				return usageErr(c, "requires at least one IMAGE")
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			out := []any{}
			for _, ref := range c.Args().Slice() {
				img, err := s.Resolve(ref)
				if err != nil {
					return err
				}
				out = append(out, inspectImage(s, img))
			}
			data, err := json.MarshalIndent(out, "", "    ")
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, string(data))
			return nil
		},
	}
}

// inspectImage is docker image inspect's shape, plus the store's layer dirs.
func inspectImage(s *image.Store, img *image.Image) map[string]any {
	tags := img.Names
	if tags == nil {
		tags = []string{}
	}
	var digests []string
	for _, n := range img.Names {
		repo, _ := image.SplitName(n)
		digests = append(digests, repo+"@"+img.ManifestDigest.String())
	}
	if digests == nil {
		digests = []string{}
	}
	var dirs []string
	for i := len(img.Layers) - 1; i >= 0; i-- {
		dirs = append(dirs, img.Layers[i].Dir)
	}
	comment := ""
	if h := img.Config.History; len(h) > 0 {
		comment = h[len(h)-1].Comment
	}
	diffIDs := img.Config.RootFS.DiffIDs
	if diffIDs == nil {
		diffIDs = []digest.Digest{}
	}
	return map[string]any{
		"Id":             img.ID.String(),
		"RepoTags":       tags,
		"RepoDigests":    digests,
		"ManifestDigest": img.ManifestDigest.String(),
		"Comment":        comment,
		"Created":        img.Config.Created,
		"Author":         img.Config.Author,
		"Config":         img.Config.Config,
		"Architecture":   img.Config.Architecture,
		"Os":             img.Config.OS,
		"Size":           img.Size,
		"RootFS":         map[string]any{"Type": img.Config.RootFS.Type, "Layers": diffIDs},
		"GraphDriver": map[string]any{
			"Name": "overlay",
			"Data": map[string]string{
				"LowerDir":  strings.Join(s.LowerDirs(img), ":"),
				"LayerDirs": strings.Join(dirs, ":"),
			},
		},
	}
}

func historyCommand() *ucli.Command {
	return &ucli.Command{
		Name: "history", Usage: "show the history of an image", ArgsUsage: "IMAGE",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "no-trunc", Usage: "do not truncate output"},
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only image IDs"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageErr(c, "requires exactly one IMAGE")
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			img, err := s.Resolve(c.Args().First())
			if err != nil {
				return err
			}
			return printHistory(c, img)
		},
	}
}

func printHistory(c *ucli.Context, img *image.Image) error {
	hist := img.Config.History
	// Sizes go to the non-empty entries, in layer order.
	sizes := make([]int64, len(hist))
	li := 0
	for i, h := range hist {
		if !h.EmptyLayer && li < len(img.Layers) {
			sizes[i] = img.Layers[li].Size
			li++
		}
	}
	w := c.App.Writer
	id := image.ShortID(img.ID)
	if c.Bool("no-trunc") {
		id = img.ID.String()
	}
	if c.Bool("quiet") {
		fmt.Fprintln(w, id)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
	for i := len(hist) - 1; i >= 0; i-- {
		h := hist[i]
		rowID := "<missing>"
		if i == len(hist)-1 {
			rowID = id
		}
		by := h.CreatedBy
		if !c.Bool("no-trunc") && len(by) > 45 {
			by = by[:44] + "…"
		}
		when := "N/A"
		if h.Created != nil {
			when = since(*h.Created)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", rowID, when, by, humanSize(sizes[i]), h.Comment)
	}
	return tw.Flush()
}

func tagCommand() *ucli.Command {
	return &ucli.Command{
		Name: "tag", Usage: "give an image another name", ArgsUsage: "SOURCE TARGET[:TAG]",
		Action: func(c *ucli.Context) error {
			if c.NArg() != 2 {
				return usageErr(c, "requires SOURCE and TARGET")
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			return s.Tag(c.Args().Get(0), c.Args().Get(1))
		},
	}
}

func rmiCommand(name string, aliases ...string) *ucli.Command {
	return &ucli.Command{
		Name: name, Aliases: aliases, Usage: "remove images", ArgsUsage: "IMAGE...",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove an image with several names; untag one a container uses"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() == 0 {
				return usageErr(c, "requires at least one IMAGE")
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			inUse := imagesInUse(c)
			var errs []string
			for _, ref := range c.Args().Slice() {
				lines, err := s.Remove(ref, c.Bool("force"), inUse)
				for _, l := range lines {
					fmt.Fprintln(c.App.Writer, l)
				}
				if err != nil {
					errs = append(errs, err.Error())
				}
			}
			if len(errs) > 0 {
				return errors.New(strings.Join(errs, "; "))
			}
			return nil
		},
	}
}

func imagePruneCommand() *ucli.Command {
	return &ucli.Command{
		Name: "prune", Usage: "remove dangling images (untagged, no image built on them; -a: all unused) and leftovers of interrupted operations",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove every image no container uses"},
			&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 0 {
				return usageErr(c, "takes no arguments")
			}
			if !c.Bool("force") {
				what := "all dangling images"
				if c.Bool("all") {
					what = "all images without at least one container associated to them"
				}
				fmt.Fprintf(c.App.Writer, "WARNING! This will remove %s.\nAre you sure you want to continue? [y/N] ", what)
				answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					fmt.Fprintln(c.App.Writer, "Total reclaimed space: 0B")
					return nil
				}
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			deleted, freed, err := s.Prune(c.Bool("all"), imagesInUse(c))
			if len(deleted) > 0 {
				fmt.Fprintln(c.App.Writer, "Deleted Images:")
				for _, d := range deleted {
					fmt.Fprintln(c.App.Writer, "deleted: "+d.String())
				}
				fmt.Fprintln(c.App.Writer)
			}
			fmt.Fprintf(c.App.Writer, "Total reclaimed space: %s\n", humanSize(freed))
			return err
		},
	}
}

func importCommand() *ucli.Command {
	return &ucli.Command{
		Name: "import", Usage: "make a one-layer image from a rootfs tarball (tar, tar.gz, tar.zst)", ArgsUsage: "FILE|- [NAME[:TAG]]",
		Flags: []ucli.Flag{
			&ucli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME)"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return usageErr(c, "requires FILE|- and an optional NAME[:TAG]")
			}
			var cfg ocispec.ImageConfig
			for _, ch := range c.StringSlice("change") {
				if err := applyChange(&cfg, ch); err != nil {
					return err
				}
			}
			name := c.Args().Get(1)
			if name != "" {
				if _, err := image.NormalizeName(name); err != nil {
					return err
				}
			}
			var r io.Reader = os.Stdin
			if f := c.Args().First(); f != "-" {
				fh, err := os.Open(f)
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer fh.Close()
				r = fh
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			img, err := s.Import(r, name, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, img.ID)
			return nil
		},
	}
}

// applyChange applies one `--change` Dockerfile instruction to cfg.
func applyChange(cfg *ocispec.ImageConfig, change string) error {
	instr, arg, _ := strings.Cut(strings.TrimSpace(change), " ")
	arg = strings.TrimSpace(arg)
	words := func() []string {
		var v []string
		if strings.HasPrefix(arg, "[") && json.Unmarshal([]byte(arg), &v) == nil {
			return v
		}
		return []string{"/bin/sh", "-c", arg}
	}
	kv := func() (map[string]string, error) {
		out := map[string]string{}
		for _, f := range strings.Fields(arg) {
			k, v, ok := strings.Cut(f, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("--change %q: want KEY=VALUE", change)
			}
			out[k] = strings.Trim(v, `"`)
		}
		return out, nil
	}
	switch strings.ToUpper(instr) {
	case "CMD":
		cfg.Cmd = words()
	case "ENTRYPOINT":
		cfg.Entrypoint = words()
	case "ENV":
		m, err := kv()
		if err != nil {
			return err
		}
		for k, v := range m {
			cfg.Env = append(cfg.Env, k+"="+v)
		}
	case "LABEL":
		m, err := kv()
		if err != nil {
			return err
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for k, v := range m {
			cfg.Labels[k] = v
		}
	case "EXPOSE":
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range strings.Fields(arg) {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.ExposedPorts[p] = struct{}{}
		}
	case "USER":
		cfg.User = arg
	case "WORKDIR":
		cfg.WorkingDir = arg
	case "VOLUME":
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range words() {
			cfg.Volumes[v] = struct{}{}
		}
	default:
		return fmt.Errorf("--change %q: unsupported instruction %q", change, instr)
	}
	return nil
}

// progressFor draws bars when stdout is a terminal and writes plain lines
// otherwise; done must be called before anything else is printed.
func progressFor(c *ucli.Context) (p image.Progress, done func()) {
	if f, ok := c.App.Writer.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b := image.NewBars(f)
		return b, b.Wait
	}
	return image.NewLines(c.App.Writer), func() {}
}

// interruptible cancels the operation on SIGINT/SIGTERM, leaving the store
// as a kill would: consistent, with leftovers for prune.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func loadCommand() *ucli.Command {
	return &ucli.Command{
		Name: "load", Usage: "load images from an OCI layout or docker-save archive", ArgsUsage: " ",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "read from FILE instead of stdin"},
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 0 {
				return usageErr(c, "takes no arguments (use -i FILE)")
			}
			var r io.Reader = os.Stdin
			if f := c.String("input"); f != "" {
				fh, err := os.Open(f)
				if err != nil {
					return fmt.Errorf("load: %w", err)
				}
				defer fh.Close()
				r = fh
			} else if term.IsTerminal(int(os.Stdin.Fd())) {
				return usageErr(c, "requested load from stdin, but stdin is a terminal")
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			var p image.Progress = image.NoProgress{}
			done := func() {}
			if !c.Bool("quiet") {
				p, done = progressFor(c)
			}
			imgs, err := s.Load(r, p)
			done()
			if err != nil {
				return err
			}
			for _, img := range imgs {
				if len(img.Names) == 0 {
					fmt.Fprintf(c.App.Writer, "Loaded image ID: %s\n", img.ID)
				}
				for _, n := range img.Names {
					fmt.Fprintf(c.App.Writer, "Loaded image: %s\n", n)
				}
			}
			return nil
		},
	}
}

func saveCommand() *ucli.Command {
	return &ucli.Command{
		Name: "save", Usage: "save images to a tar archive (OCI layout + docker manifest.json)", ArgsUsage: "IMAGE...",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to FILE instead of stdout"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() == 0 {
				return usageErr(c, "requires at least one IMAGE")
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			out := c.String("output")
			if out == "" {
				if term.IsTerminal(int(os.Stdout.Fd())) {
					return usageErr(c, "cowardly refusing to save to a terminal; use -o FILE or redirect")
				}
				return s.Save(os.Stdout, c.Args().Slice())
			}
			// A temp file renamed into place: a failed save leaves no partial archive.
			f, err := os.CreateTemp(filepath.Dir(out), ".pcr-save-*")
			if err != nil {
				return fmt.Errorf("save: %w", err)
			}
			err = s.Save(f, c.Args().Slice())
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Chmod(f.Name(), 0o644)
			}
			if err == nil {
				err = os.Rename(f.Name(), out)
			}
			if err != nil {
				os.Remove(f.Name())
				return err
			}
			return nil
		},
	}
}

func pullCommand() *ucli.Command {
	return &ucli.Command{
		Name: "pull", Usage: "pull an image from a registry", ArgsUsage: "NAME[:TAG|@DIGEST]",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image name"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageErr(c, "requires exactly one NAME")
			}
			ref, err := image.ParseReference(c.Args().First())
			if err != nil {
				return err
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			ctx, cancel := interruptible()
			defer cancel()
			var p image.Progress = image.NoProgress{}
			done := func() {}
			if !c.Bool("quiet") {
				fmt.Fprintf(c.App.Writer, "Pulling from %s\n", ref.Repository)
				p, done = progressFor(c)
			}
			img, err := s.Pull(ctx, ref.String(), p)
			done()
			if err != nil {
				return err
			}
			if !c.Bool("quiet") {
				fmt.Fprintf(c.App.Writer, "Digest: %s\n", img.ManifestDigest)
				fmt.Fprintf(c.App.Writer, "Status: Downloaded image for %s\n", ref)
			}
			fmt.Fprintln(c.App.Writer, ref)
			return nil
		},
	}
}

func pushCommand() *ucli.Command {
	return &ucli.Command{
		Name: "push", Usage: "push an image to a registry", ArgsUsage: "IMAGE [NAME[:TAG]]",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return usageErr(c, "requires IMAGE and an optional destination NAME[:TAG]")
			}
			s, err := openStore(c)
			if err != nil {
				return err
			}
			ctx, cancel := interruptible()
			defer cancel()
			var p image.Progress = image.NoProgress{}
			done := func() {}
			if !c.Bool("quiet") {
				p, done = progressFor(c)
			}
			src, dst := c.Args().Get(0), c.Args().Get(1)
			err = s.Push(ctx, src, dst, p)
			done()
			if err != nil {
				return err
			}
			img, err := s.Resolve(src)
			if err != nil {
				return err
			}
			if dst == "" {
				dst = src
			}
			fmt.Fprintf(c.App.Writer, "%s: digest: %s\n", dst, img.ManifestDigest)
			return nil
		},
	}
}
