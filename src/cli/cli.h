/* SPDX-License-Identifier: MIT */
#ifndef SKIFF_CLI_CLI_H
#define SKIFF_CLI_CLI_H

#include "vmm/config.h"

/* How the VM process runs, beside what the VM is (vm_config). */
struct run_opts {
	const char *api_sock;	/* NULL: <runtime dir>/<name>.sock; "none": no API */
	bool serve;		/* wait for the API's InstanceStart */
	bool detach;		/* run in the background (skiff run --detach) */
	/* Set by cli_run_detached() for the VM process it forks: */
	const char *console_sock;	/* serve the console output of console_rd here */
	int console_rd;
	bool has_ready_fd;		/* write a byte to ready_fd once the VM runs */
	int ready_fd;
};

/* Parse `skiff run` arguments into cfg. 0, or an exit status to return. */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, struct run_opts *o,
		  bool *done);
/* Parse `skiff serve` arguments: cfg gets the API defaults. */
int cli_parse_serve(int argc, char **argv, struct vm_config *cfg, struct run_opts *o,
		    bool *done);
void cli_config_free(struct vm_config *cfg);
/* Run the VM (or serve until InstanceStart) to the end; the exit status. */
int cli_run_vm(struct vm_config *cfg, const struct run_opts *o);
/* skiff run --detach: fork the VM into the background, print its name. */
int cli_run_detached(struct vm_config *cfg, const struct run_opts *o);
/* The default guest's directory (malloc'd), built by `make guest`. */
char *cli_default_guest_dir(void);

#endif
