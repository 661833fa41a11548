/* The guest half of the KVM selftest private_mem_conversions_test
   (tools/testing/selftests/kvm/x86/private_mem_conversions_test.c) for a
   sw_protected VM with one vCPU: guest_code() whole, in freestanding C.
   Its data is BASE_DATA_GPA (4 GiB) .. + PER_CPU_DATA_SIZE (2 MiB + 4 KiB)
   in a guest_memfd memslot, and it runs
     guest_test_explicit_conversion(base_gpa, false / true);
     guest_test_punch_hole(base_gpa, false / true);
     GUEST_DONE();
   over the selftest's test_ranges, with its patterns (def_p 0xaa, init_p
   0xcc, p1 ... p4 0x11 ... 0x44), its guest_sync_shared/guest_sync_private
   (GUEST_SYNC5: args SYNC_SHARED 0 / SYNC_PRIVATE 1, gpa, size, current and
   new pattern) and its memcmp_g checks (GUEST_ASSERT: UCALL_ABORT with the
   selftest's message formatted in the ucall buffer).

   Like the selftest, it passes its own flags in the hypercall's attributes
   (MAP_GPA_SET_ATTRIBUTES, MAP_GPA_SHARED, MAP_GPA_DO_FALLOCATE), which KVM
   hands to userspace unread: the scenario's steps do what the selftest's
   handle_exit_hypercall() does with them. */
#include "ucall.h"

typedef unsigned long long u64;
typedef unsigned char u8;

#define PAGE_SHIFT 12
#define PAGE_SIZE (1ull << PAGE_SHIFT)
#define SZ_2M (2ull << 20)
#define BASE_DATA_GPA (1ull << 32)
#define PER_CPU_DATA_SIZE (SZ_2M + PAGE_SIZE)
#define KVM_HC_MAP_GPA_RANGE 12
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The entry point: a stack, then guest_code(BASE_DATA_GPA) (the selftest
   passes base_gpa with vcpu_args_set()). */
__asm__(".section .text.entry, \"ax\"\n"
	".globl guest_entry\n"
	"guest_entry:\n"
	"	lea guest_stack_top(%rip), %rsp\n"
	"	movabs $0x100000000, %rdi\n"
	"	call guest_code\n"
	"1:	hlt\n"
	"	jmp 1b\n"
	".previous\n");

static struct ucall uc;

static void ucall(u64 cmd, u64 a0, u64 a1, u64 a2, u64 a3, u64 a4)
{
	uc.cmd = cmd;
	uc.args[0] = a0;
	uc.args[1] = a1;
	uc.args[2] = a2;
	uc.args[3] = a3;
	uc.args[4] = a4;
	ucall_pio(&uc);
}

/* The part of guest_vsnprintf() the messages need: %x/%lx in hex, %lu. */
struct msg {
	char *p, *end;
};

static void put_str(struct msg *m, const char *s)
{
	while (*s && m->p < m->end)
		*m->p++ = *s++;
}

static void put_num(struct msg *m, u64 v, unsigned base)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && m->p < m->end)
		*m->p++ = digits[--n];
}

/* __GUEST_ASSERT's ucall_assert(): UCALL_ABORT, args[2] the line (the
   expression and file pointers, args[0] and [1], are host-side strings in
   the selftest; here 0), the message in the buffer. */
static void __attribute__((noreturn)) guest_abort(unsigned line)
{
	ucall(UCALL_ABORT, 0, 0, line, 0, 0);
	for (;;)
		__asm__ volatile("hlt");
}

static struct msg msg_start(void)
{
	struct msg m = { uc.buffer, uc.buffer + UCALL_BUFFER_LEN - 1 };
	return m;
}

static void msg_end(struct msg *m)
{
	*m->p = 0;
}

/* memcmp_g(): every byte is the pattern; the first that is not is the
   selftest's "Guest expected 0x%x at offset %lu (gpa 0x%lx), got 0x%x".
   Compared 8 bytes at a time, then byte by byte where they differ. */
#define memcmp_g(gpa, pattern, size) memcmp_g_line(gpa, pattern, size, __LINE__)
static void memcmp_g_line(u64 gpa, u8 pattern, u64 size, unsigned line)
{
	const volatile u64 *q = (const volatile u64 *)gpa;
	const u64 wide = 0x0101010101010101ull * pattern;
	u64 i;

	for (i = 0; i + 8 <= size; i += 8)
		if (q[i / 8] != wide)
			break;
	for (; i < size; i++) {
		u8 got = ((const volatile u8 *)gpa)[i];
		struct msg m;

		if (got == pattern)
			continue;
		m = msg_start();
		put_str(&m, "Guest expected 0x");
		put_num(&m, pattern, 16);
		put_str(&m, " at offset ");
		put_num(&m, i, 10);
		put_str(&m, " (gpa 0x");
		put_num(&m, gpa + i, 16);
		put_str(&m, "), got 0x");
		put_num(&m, got, 16);
		msg_end(&m);
		guest_abort(line);
	}
}

/* memset() of the guest: `rep stosq` (every size here is 8-byte aligned). */
static void guest_memset(u64 gpa, u8 pattern, u64 size)
{
	u64 dst = gpa, count = size / 8;

	__asm__ volatile("rep stosq"
			 : "+D"(dst), "+c"(count)
			 : "a"(0x0101010101010101ull * pattern)
			 : "memory");
}

static u64 kvm_hypercall(u64 nr, u64 a0, u64 a1, u64 a2, u64 a3)
{
	u64 r;

	__asm__ volatile("vmcall"
			 : "=a"(r)
			 : "a"(nr), "b"(a0), "c"(a1), "d"(a2), "S"(a3)
			 : "memory");
	return r;
}

/* kvm_hypercall_map_gpa_range(): GUEST_ASSERT(!ret). */
static void kvm_hypercall_map_gpa_range(u64 gpa, u64 size, u64 flags)
{
	u64 ret = kvm_hypercall(KVM_HC_MAP_GPA_RANGE, gpa, size >> PAGE_SHIFT, flags, 0);

	if (ret) {
		struct msg m = msg_start();

		put_str(&m, "!ret");
		msg_end(&m);
		guest_abort(__LINE__);
	}
}

enum ucall_syncs {
	SYNC_SHARED,
	SYNC_PRIVATE,
};

static void guest_sync_shared(u64 gpa, u64 size, u8 current_pattern, u8 new_pattern)
{
	ucall(UCALL_SYNC, SYNC_SHARED, gpa, size, current_pattern, new_pattern);
}

static void guest_sync_private(u64 gpa, u64 size, u8 pattern)
{
	ucall(UCALL_SYNC, SYNC_PRIVATE, gpa, size, pattern, 0);
}

/* Arbitrary values, KVM doesn't care about the attribute flags. */
#define MAP_GPA_SET_ATTRIBUTES (1ull << 0)
#define MAP_GPA_SHARED (1ull << 1)
#define MAP_GPA_DO_FALLOCATE (1ull << 2)

static void guest_map_mem(u64 gpa, u64 size, int map_shared, int do_fallocate)
{
	u64 flags = MAP_GPA_SET_ATTRIBUTES;

	if (map_shared)
		flags |= MAP_GPA_SHARED;
	if (do_fallocate)
		flags |= MAP_GPA_DO_FALLOCATE;
	kvm_hypercall_map_gpa_range(gpa, size, flags);
}

static void guest_map_shared(u64 gpa, u64 size, int do_fallocate)
{
	guest_map_mem(gpa, size, 1, do_fallocate);
}

static void guest_map_private(u64 gpa, u64 size, int do_fallocate)
{
	guest_map_mem(gpa, size, 0, do_fallocate);
}

static const struct {
	u64 offset;
	u64 size;
} test_ranges[] = {
	{ 0, PAGE_SIZE },
	{ 0, SZ_2M },
	{ PAGE_SIZE, PAGE_SIZE },
	{ PAGE_SIZE, SZ_2M },
	{ SZ_2M, PAGE_SIZE },
};

static void guest_test_explicit_conversion(u64 base_gpa, int do_fallocate)
{
	const u8 def_p = 0xaa;
	const u8 init_p = 0xcc;
	u64 j;
	unsigned i;

	/* Memory should be shared by default. */
	guest_memset(base_gpa, def_p, PER_CPU_DATA_SIZE);
	memcmp_g(base_gpa, def_p, PER_CPU_DATA_SIZE);
	guest_sync_shared(base_gpa, PER_CPU_DATA_SIZE, def_p, init_p);

	memcmp_g(base_gpa, init_p, PER_CPU_DATA_SIZE);

	for (i = 0; i < ARRAY_SIZE(test_ranges); i++) {
		u64 gpa = base_gpa + test_ranges[i].offset;
		u64 size = test_ranges[i].size;
		const u8 p1 = 0x11, p2 = 0x22, p3 = 0x33, p4 = 0x44;

		guest_memset(gpa, p1, size);
		guest_map_private(gpa, size, do_fallocate);

		if (size > PAGE_SIZE) {
			guest_memset(gpa, p2, PAGE_SIZE);
			goto skip;
		}

		guest_memset(gpa, p2, size);
		guest_sync_private(gpa, size, p1);

		memcmp_g(gpa, p2, size);
		if (gpa > base_gpa)
			memcmp_g(base_gpa, init_p, gpa - base_gpa);
		if (gpa + size < base_gpa + PER_CPU_DATA_SIZE)
			memcmp_g(gpa + size, init_p, (base_gpa + PER_CPU_DATA_SIZE) - (gpa + size));

		/* Odd-numbered frames back to shared: holes in private ranges. */
		for (j = 0; j < size; j += PAGE_SIZE) {
			if ((j >> PAGE_SHIFT) & 1) {
				guest_map_shared(gpa + j, PAGE_SIZE, do_fallocate);
				guest_sync_shared(gpa + j, PAGE_SIZE, p1, p3);

				memcmp_g(gpa + j, p3, PAGE_SIZE);
			} else {
				guest_sync_private(gpa + j, PAGE_SIZE, p1);
			}
		}

skip:
		guest_map_shared(gpa, size, do_fallocate);
		guest_memset(gpa, p3, size);
		guest_sync_shared(gpa, size, p3, p4);
		memcmp_g(gpa, p4, size);

		/* Reset the shared memory back to the initial pattern. */
		guest_memset(gpa, init_p, size);

		/* PUNCH_HOLE all private memory: the next range starts clean. */
		guest_map_shared(base_gpa, PER_CPU_DATA_SIZE, 1);
	}
}

/* "Mapping" memory shared via fallocate() is done via PUNCH_HOLE. */
static void guest_punch_hole(u64 gpa, u64 size)
{
	kvm_hypercall_map_gpa_range(gpa, size, MAP_GPA_SHARED | MAP_GPA_DO_FALLOCATE);
}

static void guest_test_punch_hole(u64 base_gpa, int precise)
{
	const u8 init_p = 0xcc;
	unsigned i;

	guest_map_private(base_gpa, PER_CPU_DATA_SIZE, 0);

	for (i = 0; i < ARRAY_SIZE(test_ranges); i++) {
		u64 gpa = base_gpa + test_ranges[i].offset;
		u64 size = test_ranges[i].size;

		guest_punch_hole(base_gpa, PER_CPU_DATA_SIZE);

		/* Fault-in and initialize memory, and verify the pattern. */
		if (precise) {
			guest_memset(gpa, init_p, size);
			memcmp_g(gpa, init_p, size);
		} else {
			guest_memset(base_gpa, init_p, PER_CPU_DATA_SIZE);
			memcmp_g(base_gpa, init_p, PER_CPU_DATA_SIZE);
		}

		/* Reads after the punch succeed and return zeroes. */
		guest_punch_hole(gpa, size);
		memcmp_g(gpa, 0, size);
	}
}

void guest_code(u64 base_gpa)
{
	guest_test_explicit_conversion(base_gpa, 0);
	guest_test_explicit_conversion(base_gpa, 1);
	guest_test_punch_hole(base_gpa, 0);
	guest_test_punch_hole(base_gpa, 1);
	ucall(UCALL_DONE, 0, 0, 0, 0, 0);
}
