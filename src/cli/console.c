// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/console.h"

/*
 * The saved terminal state is the one piece of process-wide state: fatal
 * signal handlers and atexit() must reach it, and they take no argument.
 */
static struct {
	struct termios saved;
	volatile sig_atomic_t raw;
} term;

void console_term_restore(void)
{
	if (!term.raw)
		return;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &term.saved);
	term.raw = 0;
}

static void fatal_signal(int sig)
{
	console_term_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

void console_term_raw(void)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };
	struct termios t;
	unsigned int i;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &term.saved) < 0)
		return;
	t = term.saved;
	cfmakeraw(&t);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0)
		return;
	term.raw = 1;
	atexit(console_term_restore);
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], fatal_signal);
}

enum console_cmd console_filter(struct console_input *st, const uint8_t *in,
				size_t len, uint8_t *out, size_t *out_len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (!st->escape) {
			if (c == CONSOLE_ESCAPE)
				st->escape = true;
			else
				out[n++] = c;
			continue;
		}
		st->escape = false;
		if (c == st->leave_key || c == toupper((unsigned char)st->leave_key)) {
			*out_len = n;
			return CONSOLE_CMD_LEAVE;
		}
		if (c != CONSOLE_ESCAPE)
			out[n++] = CONSOLE_ESCAPE;
		out[n++] = c;
	}
	*out_len = n;
	return CONSOLE_CMD_NONE;
}
