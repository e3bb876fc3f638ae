package enginetest

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
)

// Build builds the main packages pkgs (directories as go build takes them,
// relative to the test's package: "../throng", ".") into dir, all at once,
// and returns each binary's path by its name, the base of the package's
// directory ("throng", "throng-bench"). The integration tests of every
// package that runs the real binaries build them this way, once per test
// process; go's build cache makes the second package's build a link.
func Build(dir string, pkgs ...string) (map[string]string, error) {
	bins := make(map[string]string, len(pkgs))
	paths := make([]string, len(pkgs))
	for i, pkg := range pkgs {
		abs, err := filepath.Abs(pkg)
		if err != nil {
			return nil, fmt.Errorf("enginetest: %s: %w", pkg, err)
		}
		paths[i] = filepath.Join(dir, filepath.Base(abs))
		bins[filepath.Base(abs)] = paths[i]
	}
	errs := make([]error, len(pkgs))
	var wg sync.WaitGroup
	for i, pkg := range pkgs {
		wg.Go(func() {
			if out, err := exec.Command("go", "build", "-o", paths[i], pkg).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
			}
		})
	}
	wg.Wait()
	return bins, errors.Join(errs...)
}
