// Package npmtest installs, for tests, the npm packages that a test runs
// under Node.js (the FHIR validator, axe-core): Debian's nodejs and npm
// when npm is missing and the test runs as root, then `npm ci` from the
// folder's committed package-lock.json, once, however many test binaries
// ask at the same time.
package npmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// ErrNoNode is wrapped by Install's error when the machine has no npm and
// the test may not install it (it does not run as root): the test skips.
var ErrNoNode = errors.New("Node.js and npm are missing: install them with `apt-get install -y nodejs npm` (as root)")

// Install makes sure the npm packages of dir are installed: probe, a file
// under dir/node_modules, shows they are.
func Install(dir, probe string) error {
	if err := ensureNode(); err != nil {
		return err
	}
	return ensurePackages(dir, probe)
}

func ensureNode() error {
	if _, err := exec.LookPath("npm"); err == nil {
		if _, err := exec.LookPath("node"); err == nil {
			return nil
		}
	}
	if os.Geteuid() != 0 {
		return ErrNoNode
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm").CombinedOutput()
	if err != nil {
		return fmt.Errorf("install nodejs and npm: %v\n%s", err, out)
	}
	return nil
}

// ensurePackages runs npm ci in dir unless probe is there. Test binaries
// of several packages run at once, so a lock file keeps them to one
// install.
func ensurePackages(dir, probe string) error {
	lock, err := os.OpenFile(filepath.Join(dir, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", probe)); err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return nil
}
