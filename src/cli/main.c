// SPDX-License-Identifier: MIT
/* skiff: a virtual machine monitor for Linux KVM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/proctitle.h"
#include "vmm/exitcode.h"

static const char usage[] =
"usage: skiff COMMAND [OPTIONS]\n"
"\n"
"Commands:\n"
"  run       boot a guest (default: the Linux guest built by `make guest`)\n"
"  version   print the version\n"
"  help      this help\n"
"\n"
"Run `skiff run --help` for the run options.\n";

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	bool done;
	int status;

	status = cli_parse_run(argc, argv, &cfg, &done);
	if (status || done) {
		cli_config_free(&cfg);
		return status;
	}
	status = cli_run_vm(&cfg);
	cli_config_free(&cfg);
	return status;
}

int main(int argc, char **argv)
{
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
		return cmd_run(argc - 1, argv + 1);
	fprintf(stderr, "skiff: unknown command or option '%s'\n%s", argv[1], usage);
	return EXIT_USAGE;
}
