// SPDX-License-Identifier: MIT
/*
 * hostio: the host reading and writing a disk image directly (O_DIRECT,
 * io_uring), with the same phases, parameters and RESULT lines as
 * blk_guest.elf, so bench/blk.sh can put a VMM's numbers next to the
 * limit the host itself reaches on the same file.
 *
 * usage: hostio IMAGE [mode=randread,seqread,seqwrite] [qd=1,32] [count=N]
 *               [seqcount=N] [seqqd=N] [seconds=S] [span=BYTES] [seg=BYTES]
 * (seg= is accepted and ignored: the host reads each 1 MiB as one buffer.)
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RAND_BLOCK	4096
#define SEQ_BYTES	(1024 * 1024)
#define MAX_QD		64

struct params {
	char mode[64], qds[64];
	uint64_t count, seqcount, seqqd, seconds, span;
	uint64_t seg;	/* accepted for blk_guest's sake: one buffer per request here */
};

struct phase {
	char name[32];
	bool random, write;
	unsigned int qd;
	uint32_t bytes;
	uint64_t count;
};

struct job {
	int fd;
	struct io_uring ring;
	void *buf[MAX_QD];
	uint64_t t_submit[MAX_QD];
	uint64_t span, rng;
	uint64_t seconds;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		return false;
	*out = v;
	return true;
}

static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (*list) {
		if (!strncmp(list, name, n) && (list[n] == ',' || list[n] == '\0'))
			return true;
		list += strcspn(list, ",");
		if (*list == ',')
			list++;
	}
	return false;
}

static int parse_args(int argc, char **argv, struct params *p)
{
	struct { const char *key; uint64_t *val; } nums[] = {
		{ "count", &p->count }, { "seqcount", &p->seqcount },
		{ "seqqd", &p->seqqd }, { "seconds", &p->seconds }, { "span", &p->span },
		{ "seg", &p->seg },
	};
	int i;
	size_t k;

	*p = (struct params){ "randread,seqread,seqwrite", "1,32", 20000, 256, 4, 10, 0, 0 };
	for (i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		bool known = false;

		if (!eq) {
			fprintf(stderr, "hostio: %s: want key=value\n", argv[i]);
			return -1;
		}
		*eq = '\0';
		if (!strcmp(argv[i], "mode") || !strcmp(argv[i], "qd")) {
			snprintf(argv[i][0] == 'm' ? p->mode : p->qds, sizeof(p->mode),
				 "%s", eq + 1);
			continue;
		}
		for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
			if (strcmp(argv[i], nums[k].key))
				continue;
			known = parse_size(eq + 1, nums[k].val);
			break;
		}
		if (!known) {
			fprintf(stderr, "hostio: %s=%s: unknown key or bad number\n",
				argv[i], eq + 1);
			return -1;
		}
	}
	if (!p->seqqd || p->seqqd > MAX_QD) {
		fprintf(stderr, "hostio: seqqd=%llu: want 1..%d\n",
			(unsigned long long)p->seqqd, MAX_QD);
		return -1;
	}
	return 0;
}

static uint64_t next_rand(struct job *j)
{
	j->rng ^= j->rng >> 12;
	j->rng ^= j->rng << 25;
	j->rng ^= j->rng >> 27;
	return j->rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t pick_offset(struct job *j, const struct phase *ph, uint64_t nth)
{
	if (ph->random)
		return next_rand(j) % (j->span / ph->bytes) * ph->bytes;
	return nth * ph->bytes % j->span;
}

static bool submit(struct job *j, const struct phase *ph, unsigned int s, uint64_t off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&j->ring);

	if (!sqe)
		return false;
	if (ph->write)
		io_uring_prep_write(sqe, j->fd, j->buf[s], ph->bytes, off);
	else
		io_uring_prep_read(sqe, j->fd, j->buf[s], ph->bytes, off);
	io_uring_sqe_set_data64(sqe, s);
	j->t_submit[s] = now_ns();
	return true;
}

struct tally {
	uint64_t sent, done, errors, lat_ns;
	unsigned int inflight, nfree;
	unsigned int free[MAX_QD];
};

static int reap(struct job *j, const struct phase *ph, struct tally *t)
{
	struct io_uring_cqe *cqe;
	int ret = io_uring_wait_cqe(&j->ring, &cqe);
	uint64_t now = now_ns();

	if (ret < 0)
		return ret;
	do {
		unsigned int s = (unsigned int)io_uring_cqe_get_data64(cqe);

		t->errors += cqe->res != (int)ph->bytes;
		t->lat_ns += now - j->t_submit[s];
		t->free[t->nfree++] = s;
		t->inflight--;
		t->done++;
		io_uring_cqe_seen(&j->ring, cqe);
	} while (io_uring_peek_cqe(&j->ring, &cqe) == 0);
	return 0;
}

static void report(const struct phase *ph, const struct tally *t, uint64_t ns)
{
	uint64_t us = ns / 1000 ? ns / 1000 : 1, v10;

	if (ph->random) {
		v10 = t->done ? t->lat_ns / 100 / t->done : 0;
		printf("RESULT %s iops=%llu lat_us=%llu.%llu ios=%llu errors=%llu\n", ph->name,
		       (unsigned long long)(t->done * 1000000 / us),
		       (unsigned long long)(v10 / 10), (unsigned long long)(v10 % 10),
		       (unsigned long long)t->done, (unsigned long long)t->errors);
		return;
	}
	v10 = t->done * ph->bytes * 10 / us;
	printf("RESULT %s mbps=%llu.%llu qd=%u seg=%u ios=%llu errors=%llu\n", ph->name,
	       (unsigned long long)(v10 / 10), (unsigned long long)(v10 % 10), ph->qd,
	       ph->bytes, (unsigned long long)t->done, (unsigned long long)t->errors);
}

static int run_phase(struct job *j, const struct phase *ph)
{
	struct tally t = { 0 };
	uint64_t start = now_ns(), deadline = start + j->seconds * 1000000000ULL;
	bool stop = false;
	unsigned int i;
	int ret;

	for (i = 0; i < ph->qd; i++)
		t.free[t.nfree++] = ph->qd - 1 - i;
	for (;;) {
		while (!stop && t.nfree && t.sent < ph->count &&
		       submit(j, ph, t.free[t.nfree - 1], pick_offset(j, ph, t.sent))) {
			t.nfree--;
			t.inflight++;
			t.sent++;
		}
		ret = io_uring_submit(&j->ring);
		if (ret < 0)
			return ret;
		if (!t.inflight)
			break;
		ret = reap(j, ph, &t);
		if (ret < 0)
			return ret;
		stop |= now_ns() > deadline;
	}
	report(ph, &t, now_ns() - start);
	fflush(stdout);
	return 0;
}

static int run_all(struct job *j, const struct params *p)
{
	struct phase ph = { "", true, false, 0, RAND_BLOCK, p->count };
	char qds[64], *tok, *save = NULL;
	int ret = 0;

	snprintf(qds, sizeof(qds), "%s", p->qds);
	for (tok = strtok_r(qds, ",", &save); ret == 0 && tok && in_list(p->mode, "randread");
	     tok = strtok_r(NULL, ",", &save)) {
		ph.qd = (unsigned int)strtoul(tok, NULL, 10);
		if (!ph.qd || ph.qd > MAX_QD) {
			fprintf(stderr, "hostio: qd=%s: want 1..%d\n", tok, MAX_QD);
			return -EINVAL;
		}
		snprintf(ph.name, sizeof(ph.name), "randread-qd%u", ph.qd);
		ret = run_phase(j, &ph);
	}
	ph = (struct phase){ "seqread", false, false, (unsigned int)p->seqqd, SEQ_BYTES,
			     p->seqcount };
	if (!ret && in_list(p->mode, "seqread"))
		ret = run_phase(j, &ph);
	snprintf(ph.name, sizeof(ph.name), "seqwrite");
	ph.write = true;
	if (!ret && in_list(p->mode, "seqwrite"))
		ret = run_phase(j, &ph);
	return ret;
}

int main(int argc, char **argv)
{
	struct params p;
	struct job j = { .fd = -1 };
	struct stat st;
	int i, ret;

	if (argc < 2 || parse_args(argc, argv, &p)) {
		fprintf(stderr, "usage: hostio IMAGE [mode=LIST] [qd=LIST] [count=N] "
			"[seqcount=N] [seqqd=N] [seconds=S] [span=BYTES]\n");
		return 2;
	}
	j.fd = open(argv[1], O_RDWR | O_DIRECT);
	if (j.fd < 0 || fstat(j.fd, &st)) {
		fprintf(stderr, "hostio: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	j.span = p.span && p.span < (uint64_t)st.st_size ? p.span : (uint64_t)st.st_size;
	j.span &= ~(uint64_t)(SEQ_BYTES - 1);
	j.seconds = p.seconds;
	j.rng = now_ns() | 1;
	if (!j.span) {
		fprintf(stderr, "hostio: %s: smaller than 1 MiB\n", argv[1]);
		return 2;
	}
	for (i = 0; i < MAX_QD; i++)
		if (posix_memalign(&j.buf[i], 4096, SEQ_BYTES))
			return 10;
	for (i = 0; i < MAX_QD; i++)
		memset(j.buf[i], 0x5a, SEQ_BYTES);
	ret = io_uring_queue_init(2 * MAX_QD, &j.ring, 0);
	if (ret < 0) {
		fprintf(stderr, "hostio: io_uring: %s\n", strerror(-ret));
		return 10;
	}
	ret = run_all(&j, &p);
	if (ret < 0)
		fprintf(stderr, "hostio: %s\n", strerror(-ret));
	io_uring_queue_exit(&j.ring);
	close(j.fd);
	return ret < 0 ? 1 : 0;
}
