/* SPDX-License-Identifier: MIT */
/*
 * skiff's process exit statuses. Odd values belong to the guest's debug-exit
 * port ((value << 1) | 1, as QEMU's isa-debug-exit), so skiff's own are even.
 */
#ifndef SKIFF_VMM_EXITCODE_H
#define SKIFF_VMM_EXITCODE_H

#define EXIT_POWEROFF		0	/* the guest powered off */
#define EXIT_USAGE		2	/* bad flag, bad file: nothing was run */
#define EXIT_REBOOT		4	/* the guest rebooted, --on-reboot exit */
#define EXIT_GUEST_CRASH	6	/* triple fault, unhandled exit, emulation failure */
#define EXIT_FORCED_STOP	8	/* SIGTERM and the guest did not power off in time */
#define EXIT_HOST_ERROR		10	/* KVM or the host failed us */

#endif
