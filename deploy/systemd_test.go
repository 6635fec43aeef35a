package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitDirectives returns the [Service] directives of a unit file, each
// with every value it is given.
func unitDirectives(t *testing.T, file string) map[string][]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			out[k] = append(out[k], v)
		}
	}
	return out
}

// TestSystemdUnit: deploy/systemd/pathway.service raises the open-file
// limit and sandboxes pathway (no privileges, a read-only system, no
// capabilities, only the address families and system calls a network
// service uses); systemd itself accepts the unit and rates its exposure
// at 2.0 or below ("OK") where systemd-analyze is installed.
func TestSystemdUnit(t *testing.T) {
	const unit = "systemd/pathway.service"
	d := unitDirectives(t, unit)
	for k, want := range map[string]string{
		"LimitNOFILE":             "65536",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"SystemCallArchitectures": "native",
		"MemoryDenyWriteExecute":  "yes",
		"StateDirectory":          "pathway",
	} {
		if vs, ok := d[k]; !ok || vs[len(vs)-1] != want {
			t.Errorf("%s=%q, want %q", k, vs, want)
		}
	}
	if f := d["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter=%q, want @system-service first", f)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit's directives are checked, not systemd's verdict")
	}
	// The unit as installed: ExecStart names the binary, here the one
	// built for the tests.
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	installed := filepath.Join(t.TempDir(), "pathway.service")
	text := strings.Replace(string(b), "ExecStart=/usr/local/bin/pathway", "ExecStart="+pathwayBinary(t), 1)
	if err := os.WriteFile(installed, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", installed).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", installed).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v):\n%s", err, out)
	}
}
