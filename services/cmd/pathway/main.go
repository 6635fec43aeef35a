// Command pathway runs the social prescribing referral pathway service.
//
//	pathway serve      run every service, on an embedded NATS by default
//	pathway version    print the version
//	pathway help [command]
//
// Run `pathway help serve` for the flags and environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks a command line that could not be understood; its message
// has already been printed with the usage.
var errUsage = errors.New("usage")

const usage = `pathway: the social prescribing referral pathway service

Usage:
  pathway serve [flags]     run every service, on an embedded NATS by default
  pathway keys ...          create, list and revoke API keys
  pathway rebuild [NAME]    rebuild read models from the event log
  pathway demo [flags]      load a synthetic demo region into an empty data directory
  pathway erase ...         erase a person's personal data for good (admins)
  pathway sar ...           export everything held about a person (subject access)
  pathway backup --out DIR  copy the log and its buckets, online, encrypted
  pathway restore --from DIR --data NEWDIR
                            rebuild pathway from a backup
  pathway directory import FILE
                            import VCSE partners and services (HSDS 3.0 JSON)
  pathway version           print the version
  pathway help [command]    show help for a command

Run 'pathway help serve' for the flags of serve.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = serveCommand(ctx, rest, getenv, stdout, stderr)
	case "version":
		err = versionCommand(rest, stdout, stderr)
	case "keys":
		err = keysCommand(ctx, rest, getenv, stdout, stderr)
	case "rebuild":
		err = rebuildCommand(ctx, rest, getenv, stdout, stderr)
	case "directory":
		err = directoryCommand(ctx, rest, getenv, stdout, stderr)
	case "demo":
		err = demoCommand(ctx, rest, getenv, stdout, stderr)
	case "erase":
		err = eraseCommand(ctx, rest, getenv, stdout, stderr)
	case "sar":
		err = sarCommand(ctx, rest, getenv, stdout, stderr)
	case "backup":
		err = backupCommand(ctx, rest, getenv, stdout, stderr)
	case "restore":
		err = restoreCommand(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		err = helpCommand(rest, getenv, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "pathway: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "pathway: %v\n", err)
		return 1
	}
}

func helpCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[0] {
	case "serve":
		fs, _ := serveFlags(getenv, stdout)
		fs.Usage()
		return nil
	case "version":
		fs := versionFlags(stdout)
		fs.Usage()
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "keys":
		fmt.Fprint(stdout, keysUsage)
		return nil
	case "rebuild":
		fmt.Fprintf(stdout, rebuildUsage, "caseloads, dashboard-initials, funnel, partners, timeseries, waitlists")
		return nil
	case "directory":
		fmt.Fprint(stdout, directoryUsage)
		return nil
	case "erase":
		fmt.Fprint(stdout, eraseUsage)
		return nil
	case "sar":
		fmt.Fprint(stdout, sarUsage)
		return nil
	case "backup":
		fmt.Fprint(stdout, backupUsage)
		return nil
	case "restore":
		fmt.Fprint(stdout, restoreUsage)
		return nil
	case "demo":
		fs := flag.NewFlagSet("demo", flag.ContinueOnError)
		fs.SetOutput(stdout)
		fs.String("data", defaultServeConfig().DataDir, "data directory of the embedded event store")
		demoFlags(fs)
		fmt.Fprint(stdout, demoUsage)
		fs.PrintDefaults()
		return nil
	}
	fmt.Fprintf(stderr, "pathway: no help for unknown command %q\n\n%s", args[0], usage)
	return errUsage
}

func versionFlags(out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, "Usage: pathway version\n\nPrints the version of pathway, the Go toolchain that built it, and the platform.\n")
	}
	return fs
}

func versionCommand(args []string, stdout, stderr io.Writer) error {
	fs := versionFlags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pathway version: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	fmt.Fprintf(stdout, "pathway %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// buildVersion is the link-time version, else the module version, else
// the VCS revision, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "dev-" + s.Value[:12]
		}
	}
	return "dev"
}
