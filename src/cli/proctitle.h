/* SPDX-License-Identifier: MIT */
#ifndef SKIFF_CLI_PROCTITLE_H
#define SKIFF_CLI_PROCTITLE_H

/* Remember argv's memory (call first thing in main). */
void proctitle_init(int argc, char **argv);
/* Show title in ps (argv area) and top (comm). */
void proctitle_set(const char *title);

#endif
