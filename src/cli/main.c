// SPDX-License-Identifier: MIT
/* skiff: a virtual machine monitor for Linux KVM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/proctitle.h"
#include "cli/toolstack.h"
#include "vmm/exitcode.h"

static const char usage[] =
"usage: skiff COMMAND [OPTIONS]\n"
"\n"
"Commands:\n"
"  run       boot a guest (default: the Linux guest built by `make guest`)\n"
"  serve     start a VMM and configure its VM through the control API\n"
"  ls        list this user's VMs (--json)\n"
"  top       a live view of the VMs: CPU, memory, exits, disk and network\n"
"  info NAME          a VM's state, configuration and counters, as JSON\n"
"  pause|resume NAME  stop a VM's vCPUs, or let them go on\n"
"  stop NAME          press the ACPI power button and wait for the VM to end\n"
"  kill NAME          stop the VM at once\n"
"  console NAME       attach to a detached VM's console (Ctrl-A d detaches)\n"
"  version   print the version\n"
"  help      this help\n"
"\n"
"Run `skiff run --help` and `skiff serve --help` for their options.\n";

static int cmd_run(int argc, char **argv, bool serve)
{
	struct vm_config cfg;
	struct run_opts o;
	bool done;
	int status;

	status = serve ? cli_parse_serve(argc, argv, &cfg, &o, &done) :
			 cli_parse_run(argc, argv, &cfg, &o, &done);
	if (status || done) {
		cli_config_free(&cfg);
		return status;
	}
	status = o.detach ? cli_run_detached(&cfg, &o) : cli_run_vm(&cfg, &o);
	cli_config_free(&cfg);
	return status;
}

int main(int argc, char **argv)
{
	bool handled;
	int status;

	proctitle_init(argc, argv);
	/* A closed console pipe is the UART's business, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("skiff %s\n", SKIFF_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1, false);
	if (!strcmp(argv[1], "serve"))
		return cmd_run(argc - 1, argv + 1, true);
	status = toolstack_main(argc - 1, argv + 1, &handled);
	if (handled)
		return status;
	fprintf(stderr, "skiff: unknown command or option '%s'\n%s", argv[1], usage);
	return EXIT_USAGE;
}
