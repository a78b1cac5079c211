// SPDX-License-Identifier: MIT
/* kvm_pvm helpers that need no KVM: instruction classes, command lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/pvm.h"
#include "vmm/vm.h"

static void test_classify(void **state)
{
	static const uint8_t int3[] = { 0xcc, 0x90 }, ud2[] = { 0x0f, 0x0b },
		fwait[] = { 0x9b }, xrstor[] = { 0x48, 0x0f, 0xae, 0x2f },
		lone0f[] = { 0x0f };
	unsigned int len;

	(void)state;
	assert_int_equal(pvm_classify_insn(int3, 2, &len), PVM_FIX_INT3);
	assert_int_equal(len, 1);
	assert_int_equal(pvm_classify_insn(ud2, 2, &len), PVM_FIX_UD2);
	assert_int_equal(len, 2);
	assert_int_equal(pvm_classify_insn(fwait, 1, &len), PVM_FIX_SKIP);
	assert_int_equal(len, 1);
	/* xrstor is not assisted: the kernel parameter avoids it. */
	assert_int_equal(pvm_classify_insn(xrstor, 4, &len), PVM_FIX_NONE);
	assert_int_equal(pvm_classify_insn(lone0f, 1, &len), PVM_FIX_NONE);
	assert_int_equal(pvm_classify_insn(int3, 0, &len), PVM_FIX_NONE);
}

static void test_nop_length(void **state)
{
	static const struct { uint8_t b[10]; size_t len; unsigned int want; } c[] = {
		{ { 0x90 }, 1, 1 },
		{ { 0x66, 0x90 }, 2, 2 },
		{ { 0x0f, 0x1f, 0x00 }, 3, 3 },			/* nopl (%rax) */
		{ { 0x0f, 0x1f, 0x40, 0x00 }, 4, 4 },		/* nopl 0(%rax) */
		{ { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, 5, 5 },	/* nopl 0(%rax,%rax) */
		{ { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 }, 6, 6 },
		{ { 0x0f, 0x1f, 0x80, 0, 0, 0, 0 }, 7, 7 },	/* nopl 0L(%rax) */
		{ { 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 }, 8, 8 },
		{ { 0xf3, 0x0f, 0x1e, 0xfa }, 4, 4 },		/* endbr64 */
		{ { 0xfc }, 1, 0 },				/* cld */
		{ { 0x0f, 0x01, 0xca }, 3, 0 },			/* clac */
		{ { 0x0f, 0x1f, 0x48, 0x00 }, 4, 0 },		/* /1 is no nop */
		{ { 0x0f, 0x1f, 0x80, 0, 0 }, 5, 0 },		/* truncated */
		{ { 0x66, 0x66, 0x66, 0x66, 0x66, 0x90 }, 6, 0 },	/* too many */
		{ { 0 }, 0, 0 },
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (pvm_nop_length(c[i].b, c[i].len) != c[i].want)
			fail_msg("case %u: got %u, want %u", i,
				 pvm_nop_length(c[i].b, c[i].len), c[i].want);
}

static void check_insert(const char *in, const char *want)
{
	char *out = cmdline_insert_params(in, "P=1 Q");

	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void test_cmdline_insert(void **state)
{
	(void)state;
	check_insert("", "P=1 Q");
	check_insert("console=ttyS0", "console=ttyS0 P=1 Q");
	check_insert("console=ttyS0 -- \"echo hi\"", "console=ttyS0 P=1 Q -- \"echo hi\"");
	check_insert("-- ls", "P=1 Q -- ls");
	check_insert("--", "P=1 Q --");
	check_insert("a --", "a P=1 Q --");
	/* Only the first " -- " separates init arguments. */
	check_insert("a -- b -- c", "a P=1 Q -- b -- c");
	/* "--foo" is no separator. */
	check_insert("a --foo", "a --foo P=1 Q");
}

static void test_effective_cmdline(void **state)
{
	struct vm vm;
	struct vm_config cfg = { .name = "t" };
	char *s;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	vm_init_bare(&vm, &cfg);
	s = pvm_effective_cmdline(&vm, "console=ttyS0");
	assert_string_equal(s, "console=ttyS0");
	free(s);
	vm.host.is_pvm = true;
	s = pvm_effective_cmdline(&vm, "console=ttyS0 -- x");
	assert_string_equal(s, "console=ttyS0 " PVM_KERNEL_PARAMS " -- x");
	free(s);
	s = pvm_effective_cmdline(&vm, NULL);
	assert_string_equal(s, PVM_KERNEL_PARAMS);
	free(s);
	bus_destroy(&vm.pio);
	bus_destroy(&vm.mmio);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_nop_length),
		cmocka_unit_test(test_cmdline_insert),
		cmocka_unit_test(test_effective_cmdline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
