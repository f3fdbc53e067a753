package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1], os.Args[2:], os.Stdout, os.Stderr)
	stop()
	var bad badCommand
	switch {
	case errors.Is(err, flag.ErrHelp):
		// The flag set has printed its usage.
	case errors.As(err, &bad):
		fmt.Fprintf(os.Stderr, "pyre: unknown command %q\n", string(bad))
		usage(os.Stderr)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "pyre:", err)
		os.Exit(1)
	}
}

// badCommand is the error of a command pyre does not know.
type badCommand string

func (b badCommand) Error() string { return "unknown command " + string(b) }

// run runs one command until it ends or ctx is cancelled (SIGINT or
// SIGTERM in main). Reports go to out, logs and usage to errOut.
func run(ctx context.Context, cmd string, args []string, out, errOut io.Writer) error {
	switch cmd {
	case "chat":
		return runChat(ctx, args, errOut)
	case "donations":
		return runDonations(ctx, args, errOut)
	case "bench":
		return bench(ctx, args, out, errOut)
	case "help":
		if len(args) > 0 {
			// pyre help chat is pyre chat -h.
			if args[0] == "help" {
				return badCommand("help " + args[0])
			}
			return run(ctx, args[0], []string{"-h"}, out, errOut)
		}
		usage(errOut)
		return flag.ErrHelp
	case "-h", "-help", "--help":
		usage(errOut)
		return flag.ErrHelp
	}
	return badCommand(cmd)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: pyre <command> [flags]

commands:
  chat        run the chat example (pyre chat -h for flags)
  donations   run the donations example: live campaign totals, an admin
              dashboard, restart policies and a supervision tree
              (pyre donations -h for flags)
  bench       load-test a pyre or Phoenix server on loopback: storm,
              reconnect, fanout, ping (pyre bench -h for modes and flags)
  help        pyre help COMMAND lists a command's flags, grouped, with the
              PYRE_* environment variable that sets each one`)
}
