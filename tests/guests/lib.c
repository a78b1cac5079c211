// SPDX-License-Identifier: MIT
/* The test guests' library: see lib.h. */
#include "lib.h"

void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;

	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *pa = a, *pb = b;

	for (; n; n--, pa++, pb++)
		if (*pa != *pb)
			return *pa - *pb;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (uint8_t)*a - (uint8_t)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

const void *memmem_(const void *hay, size_t len, const void *needle, size_t nlen)
{
	const uint8_t *h = hay, *n = needle;
	size_t i;

	if (nlen == 0 || nlen > len)
		return NULL;
	for (i = 0; i + nlen <= len; i++)
		if (h[i] == n[0] && !memcmp(h + i, n, nlen))
			return h + i;
	return NULL;
}

/* Console */

#define UART_LSR	5
#define UART_LSR_THRE	0x20

void putchar_(char c)
{
	unsigned int spins = 100000;

	/* Bounded: a console that never drains must not hang the test. */
	while (!(inb(COM1_PORT + UART_LSR) & UART_LSR_THRE) && --spins)
		cpu_relax();
	outb(COM1_PORT, (uint8_t)c);
}

void puts_(const char *s)
{
	while (*s) {
		if (*s == '\n')
			putchar_('\r');
		putchar_(*s++);
	}
}

static void put_num(uint64_t v, unsigned int base, bool neg, int width, char pad)
{
	char buf[24];
	int n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		buf[n++] = '-';
	for (; width > n; width--)
		putchar_(pad);
	while (n)
		putchar_(buf[--n]);
}

void vprintf_(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int width = 0, longs = 0;
		char pad = ' ';
		uint64_t u;
		int64_t s;
		const char *str;

		if (*fmt != '%') {
			if (*fmt == '\n')
				putchar_('\r');
			putchar_(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
			s = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_num(s < 0 ? -(uint64_t)s : (uint64_t)s, 10, s < 0, width, pad);
			break;
		case 'u':
		case 'x':
			u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			put_num(u, *fmt == 'u' ? 10 : 16, false, width, pad);
			break;
		case 'p':
			puts_("0x");
			put_num((uint64_t)va_arg(ap, void *), 16, false, width, pad);
			break;
		case 'c':
			putchar_((char)va_arg(ap, int));
			break;
		case 's':
			str = va_arg(ap, const char *);
			puts_(str ? str : "(null)");
			break;
		case '%':
			putchar_('%');
			break;
		case '\0':
			return;
		default:
			putchar_('%');
			putchar_(*fmt);
		}
	}
}

void printf_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf_(fmt, ap);
	va_end(ap);
}

/* Checks: the only mutable state, and these guests are single-threaded
 * where they call check() (APs never do). */
static unsigned int n_checks, n_failed;

bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	n_checks++;
	if (!ok)
		n_failed++;
	puts_(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf_(fmt, ap);
	va_end(ap);
	puts_("\n");
	return ok;
}

unsigned int checks_failed(void)
{
	return n_failed;
}

unsigned int checks_run(void)
{
	return n_checks;
}

void finish(const char *name)
{
	printf_("%s: %u checks, %u failed: %s\n", name, n_checks, n_failed,
		n_failed ? "FAIL" : "PASS");
	debug_exit(n_failed ? 1 : 0);
}

void debug_exit(uint32_t v)
{
	outl(DEBUG_EXIT_PORT, v);
	/* Only reached when skiff runs without --debug-exit. */
	puts_("debug-exit port did not stop the VM\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Command line */

const char *cmdline(const struct hvm_start_info *si)
{
	if (!si->cmdline_paddr)
		return "";
	return (const char *)si->cmdline_paddr;
}

bool cmdline_get(const char *cl, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);

	while (*cl) {
		const char *end;

		while (*cl == ' ')
			cl++;
		for (end = cl; *end && *end != ' '; end++)
			;
		if ((size_t)(end - cl) > klen && !strncmp(cl, key, klen) &&
		    cl[klen] == '=') {
			size_t n = 0;

			for (cl += klen + 1; cl < end && n + 1 < len; cl++)
				buf[n++] = *cl;
			if (len)
				buf[n] = '\0';
			return true;
		}
		cl = end;
	}
	return false;
}

bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int base = 10, digits = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++, digits++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = v * base + d;
	}
	if (!digits)
		return false;
	switch (*s) {
	case 'k': case 'K': v <<= 10; s++; break;
	case 'm': case 'M': v <<= 20; s++; break;
	case 'g': case 'G': v <<= 30; s++; break;
	case 't': case 'T': v <<= 40; s++; break;
	}
	if (*s)
		return false;
	*out = v;
	return true;
}

bool cmdline_u64(const char *cl, const char *key, uint64_t *out)
{
	char buf[32];

	return cmdline_get(cl, key, buf, sizeof(buf)) && parse_u64(buf, out);
}

/* ACPI */

uint8_t acpi_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return s;
}

const struct acpi_rsdp *acpi_rsdp(const struct hvm_start_info *si)
{
	const struct acpi_rsdp *r = (const void *)si->rsdp_paddr;

	if (!r || si->rsdp_paddr >= 0x100000000ULL ||
	    memcmp(r->signature, "RSD PTR ", 8))
		return NULL;
	return r;
}

static uint64_t read_u64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t read_u32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

uint64_t fadt_dsdt(const struct acpi_header *fadt)
{
	const uint8_t *f = (const void *)fadt;
	uint64_t x = 0;

	if (fadt->length >= FADT_X_DSDT + 8)
		x = read_u64(f + FADT_X_DSDT);
	return x ? x : read_u32(f + FADT_DSDT);
}

uint64_t fadt_facs(const struct acpi_header *fadt)
{
	const uint8_t *f = (const void *)fadt;
	uint64_t x = 0;

	if (fadt->length >= FADT_X_FIRMWARE_CTRL + 8)
		x = read_u64(f + FADT_X_FIRMWARE_CTRL);
	return x ? x : read_u32(f + FADT_FIRMWARE_CTRL);
}

const struct acpi_header *acpi_find(const struct hvm_start_info *si, const char *sig)
{
	const struct acpi_rsdp *r = acpi_rsdp(si);
	const struct acpi_header *xsdt, *fadt;
	uint32_t i, n;

	if (!r || r->revision < 2 || !r->xsdt_address ||
	    r->xsdt_address >= 0x100000000ULL)
		return NULL;
	xsdt = (const void *)r->xsdt_address;
	if (memcmp(xsdt->signature, "XSDT", 4) || xsdt->length < sizeof(*xsdt))
		return NULL;
	if (!memcmp(sig, "DSDT", 4) || !memcmp(sig, "FACS", 4)) {
		fadt = acpi_find(si, "FACP");
		if (!fadt)
			return NULL;
		return (const void *)(sig[0] == 'D' ? fadt_dsdt(fadt) : fadt_facs(fadt));
	}
	n = (xsdt->length - sizeof(*xsdt)) / 8;
	for (i = 0; i < n; i++) {
		uint64_t pa = read_u64((const uint8_t *)(xsdt + 1) + i * 8);
		const struct acpi_header *t = (const void *)pa;

		if (pa && pa < 0x100000000ULL && !memcmp(t->signature, sig, 4))
			return t;
	}
	return NULL;
}

/* Value of an AML integer data object at p, or -1. */
static int aml_small_int(const uint8_t *p)
{
	switch (p[0]) {
	case 0x00: return 0;		/* ZeroOp */
	case 0x01: return 1;		/* OneOp */
	case 0x0a: return p[1];		/* BytePrefix */
	case 0x0b: return p[1] | p[2] << 8;	/* WordPrefix */
	case 0x0c: return p[1] | p[2] << 8;	/* DWordPrefix (low bits) */
	default: return -1;
	}
}

int acpi_s5_slp_typ(const struct acpi_header *dsdt)
{
	const uint8_t *p = memmem_(dsdt, dsdt->length, "_S5_", 4);
	const uint8_t *end = (const uint8_t *)dsdt + dsdt->length;

	/* NameOp "_S5_" PackageOp PkgLength NumElements <SLP_TYPa> ... */
	if (!p || p + 12 > end)
		return -1;
	p += 4;
	if (*p++ != 0x12)
		return -1;
	p += 1 + (*p >> 6);	/* PkgLength: lead byte + 0..3 more */
	p++;			/* NumElements */
	return aml_small_int(p);
}

void acpi_poweroff(const struct hvm_start_info *si)
{
	const struct acpi_header *fadt = acpi_find(si, "FACP");
	const struct acpi_header *dsdt = acpi_find(si, "DSDT");
	uint32_t pm1a_cnt;
	int typ;

	if (!fadt || !dsdt) {
		puts_("poweroff: no FADT or DSDT\n");
		debug_exit(1);
	}
	pm1a_cnt = read_u32((const uint8_t *)fadt + FADT_PM1A_CNT_BLK);
	typ = acpi_s5_slp_typ(dsdt);
	if (!pm1a_cnt || pm1a_cnt > 0xffff || typ < 0) {
		printf_("poweroff: PM1a_CNT 0x%x, SLP_TYP %d: unusable\n",
			pm1a_cnt, typ);
		debug_exit(1);
	}
	outw((uint16_t)pm1a_cnt, (uint16_t)((typ & 7) << 10 | 1 << 13));
	puts_("poweroff: the VM is still running\n");
	debug_exit(1);
}

bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (*list) {
		if (!strncmp(list, name, n) && (list[n] == ',' || list[n] == '\0'))
			return true;
		while (*list && *list != ',')
			list++;
		if (*list == ',')
			list++;
	}
	return false;
}

#define CR4_SMEP	(1UL << 20)
#define CR4_SMAP	(1UL << 21)
#define PTE_PRESENT	0x001ULL
#define PTE_USER	0x004ULL
#define PTE_ADDR	0x000ffffffffff000ULL

void identity_map_user(void)
{
	uint64_t cr3, cr4, *pml4, *pdpt, *pd;
	unsigned int i, j;

	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 &= ~(CR4_SMEP | CR4_SMAP);
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	pml4 = (uint64_t *)(cr3 & PTE_ADDR);
	pml4[0] |= PTE_USER;
	pdpt = (uint64_t *)(pml4[0] & PTE_ADDR);
	for (i = 0; i < 4; i++) {
		if (!(pdpt[i] & PTE_PRESENT))
			continue;
		pdpt[i] |= PTE_USER;
		pd = (uint64_t *)(pdpt[i] & PTE_ADDR);
		for (j = 0; j < 512; j++)
			pd[j] |= PTE_USER;
	}
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}
