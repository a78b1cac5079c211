/* SPDX-License-Identifier: MIT */
#ifndef SKIFF_CLI_CLI_H
#define SKIFF_CLI_CLI_H

#include "vmm/config.h"

/* Parse `skiff run` arguments into cfg. 0, or an exit status to return. */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, bool *done);
void cli_config_free(struct vm_config *cfg);
/* Run the configured VM to completion; returns the process exit status. */
int cli_run_vm(const struct vm_config *cfg);
/* The default guest's directory (malloc'd), built by `make guest`. */
char *cli_default_guest_dir(void);

#endif
