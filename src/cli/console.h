/* SPDX-License-Identifier: MIT */
/* The host terminal behind the guest console: raw mode and Ctrl-A escapes. */
#ifndef SKIFF_CLI_CONSOLE_H
#define SKIFF_CLI_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_ESCAPE 0x01	/* Ctrl-A */

/* Put stdin in raw mode if it is a terminal; restored on every exit path. */
void console_term_raw(void);
void console_term_restore(void);

/* Escape-sequence state for console input. */
struct console_input {
	bool escape;	/* the previous byte was Ctrl-A */
	char leave_key;	/* Ctrl-A and this (either case) leave: 'x' or 'd' */
};

/* skiff run: Ctrl-A x stops the VM; skiff console: Ctrl-A d detaches. */
#define CONSOLE_INPUT_RUN	((struct console_input){ .leave_key = 'x' })
#define CONSOLE_INPUT_ATTACH	((struct console_input){ .leave_key = 'd' })

enum console_cmd {
	CONSOLE_CMD_NONE,
	CONSOLE_CMD_LEAVE,	/* Ctrl-A leave_key */
};

/*
 * Filter input bytes: Ctrl-A leave_key leaves, Ctrl-A Ctrl-A sends one
 * Ctrl-A, Ctrl-A followed by anything else sends both. Guest-bound bytes
 * go to out (at least 2 * len + 1 bytes); *out_len gets their count.
 */
enum console_cmd console_filter(struct console_input *st, const uint8_t *in,
				size_t len, uint8_t *out, size_t *out_len);

#endif
