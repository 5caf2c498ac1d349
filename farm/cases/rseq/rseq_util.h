/* What the rseq/ cases share: which rseq ABI the glibc under test offers, and helpers that
   work the same on each.

   The ABI is chosen at build time, by linking against the glibc under test, not by its
   headers: farm-cc puts the prefix's headers first, but a header the prefix lacks (a 2.30
   has no <sys/rseq.h>) still comes from the image's own /usr/include, Debian's newer glibc,
   and a case written against it would fail to link and be reported ERROR.  Each case.yaml
   has a `detect: FARM_RSEQ_ABI` step that tries rseq/abi/upstream.c, then
   rseq/abi/series.c, and compiles every source with -DFARM_RSEQ_ABI=FARM_RSEQ_ABI_<choice>:

   UPSTREAM  glibc 2.35 and later: glibc registers an area for every thread (in the thread
             descriptor, one per thread whatever the namespace) and ld.so exports where it
             is: __rseq_offset from the thread pointer, __rseq_size (0 when glibc did not
             register), __rseq_flags, declared in <sys/rseq.h>.  Registration happens in
             ld.so before any constructor runs; GLIBC_TUNABLES=glibc.pthread.rseq=0 turns
             it off.
   SERIES    the v12 registration series on 2.30 (compudj/glibc-dev, branch glibc-rseq):
             libc.so exports the area itself, the initial-exec TLS variable __rseq_abi
             (GLIBC_2.31), and ld.so exports __rseq_handled, the ownership flag: ld.so sets
             it to 1 before any LD_PRELOAD constructor runs, and a library that finds it 1
             must not register rseq itself.  The main thread is registered by
             __libc_start_main of the main namespace's libc only (after the LD_PRELOAD
             constructors), each new thread by pthread_create; a libc loaded anywhere else
             (a dlmopen namespace, an LD_AUDIT module, a static executable's dlopen) has
             its own TLS copy of __rseq_abi that it must leave unregistered.  No tunable.
   NONE      neither: this glibc does not register rseq, and every case is UNSUPPORTED.

   The kernel holds at most one area per thread.  Asking it to register an area again tells
   which one it holds: the same area, length and signature gives EBUSY, any other area
   EINVAL (farm_rseq_kernel_holds).  */

#ifndef FARM_RSEQ_UTIL_H
#define FARM_RSEQ_UTIL_H

#include "farm_case.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FARM_RSEQ_ABI_NONE 0
#define FARM_RSEQ_ABI_SERIES 1
#define FARM_RSEQ_ABI_UPSTREAM 2

#ifndef FARM_RSEQ_ABI
# error "FARM_RSEQ_ABI comes from the case's detect: step; see rseq/rseq_util.h"
#endif

#if FARM_RSEQ_ABI == FARM_RSEQ_ABI_UPSTREAM
# include <sys/rseq.h>
# define FARM_RSEQ_ABI_NAME "upstream (glibc 2.35+: __rseq_offset, __rseq_size, __rseq_flags)"
#elif FARM_RSEQ_ABI == FARM_RSEQ_ABI_SERIES
# define FARM_RSEQ_ABI_NAME "the v12 series (__rseq_abi from libc, __rseq_handled from ld.so)"
#else
# define FARM_RSEQ_ABI_NAME "none"
#endif

/* The kernel's struct rseq, as far as the cases read it (cpu_id at offset 4); its own
   definition rather than <linux/rseq.h> or <sys/rseq.h>, which disagree between releases
   and must not both be included.  Registered areas are 32 bytes, 32-aligned.  */
struct farm_rseq
{
  uint32_t cpu_id_start;
  uint32_t cpu_id;
  uint64_t rseq_cs;
  uint32_t flags;
} __attribute__ ((aligned (32)));

#if FARM_RSEQ_ABI == FARM_RSEQ_ABI_SERIES
/* The series declares it as its struct rseq (the kernel's layout) in <sys/rseq.h>.  */
extern __thread struct farm_rseq __rseq_abi __attribute__ ((tls_model ("initial-exec")));
extern int __rseq_handled;
#endif

#ifdef RSEQ_SIG
# define FARM_RSEQ_SIG RSEQ_SIG
#elif defined __x86_64__ || defined __i386__
# define FARM_RSEQ_SIG 0x53053053 /* both glibc ABIs' x86 signature */
#else
# error "add this architecture's RSEQ_SIG"
#endif

#ifndef __NR_rseq
# if defined __x86_64__
#  define __NR_rseq 334
# elif defined __i386__
#  define __NR_rseq 386
# endif
#endif

#define FARM_RSEQ_FLAG_UNREGISTER 1

/* The raw system call; -1 with errno on failure, like syscall(2).  */
static inline long
farm_rseq_syscall (void *area, uint32_t length, int flags, uint32_t signature)
{
  return syscall (__NR_rseq, area, length, flags, signature);
}

/* UNSUPPORTED unless the kernel has rseq and the container lets us call it.  An invalid
   registration is refused with EINVAL by a kernel that has rseq, with ENOSYS by one that
   has not, and with EPERM by a seccomp filter that forbids it.  */
__attribute__ ((unused)) static void
farm_require_kernel_rseq (void)
{
  if (farm_rseq_syscall (NULL, 0, 0, 0) == 0)
    FARM_FAIL ("the kernel accepted an rseq registration of NULL");
  if (errno == ENOSYS)
    FARM_UNSUPPORTED ("the kernel has no rseq system call (ENOSYS)");
  if (errno == EPERM)
    FARM_UNSUPPORTED ("rseq is forbidden here (EPERM: a seccomp filter?)");
}

/* UNSUPPORTED where the glibc under test has no rseq ABI; otherwise says which one.  */
__attribute__ ((unused)) static void
farm_require_rseq_abi (void)
{
  if (FARM_RSEQ_ABI == FARM_RSEQ_ABI_NONE)
    FARM_UNSUPPORTED ("this glibc exports neither __rseq_offset/__rseq_size (2.35+) nor "
                      "__rseq_abi/__rseq_handled (the v12 series): it does not register "
                      "rseq");
  FARM_NOTE ("rseq ABI: %s", FARM_RSEQ_ABI_NAME);
}

/* Read the cpu_id the kernel keeps in AREA (negative: not registered).  */
static inline int
farm_rseq_cpu_id (const void *area)
{
  return (int) ((const volatile struct farm_rseq *) area)->cpu_id;
}

#if FARM_RSEQ_ABI != FARM_RSEQ_ABI_NONE
/* The thread pointer, which __rseq_offset is relative to.  GCC learned
   __builtin_thread_pointer for x86 only in GCC 11, and bullseye's toolchain is GCC 10, so
   read it as glibc's own THREAD_SELF does: the TCB's first word points to itself.  */
static inline void *
farm_thread_pointer (void)
{
  void *tp;
# if defined __x86_64__
  __asm__ ("mov %%fs:0, %0" : "=r" (tp));
# elif defined __i386__
  __asm__ ("mov %%gs:0, %0" : "=r" (tp));
# else
  tp = __builtin_thread_pointer ();
# endif
  return tp;
}

/* The calling thread's rseq area, where this ABI says glibc put it.  */
static inline void *
farm_rseq_area (void)
{
# if FARM_RSEQ_ABI == FARM_RSEQ_ABI_UPSTREAM
  return (char *) farm_thread_pointer () + __rseq_offset;
# else
  return &__rseq_abi;
# endif
}

/* FAIL unless the kernel keeps AREA up to date: cpu_id is a valid CPU number, and at least
   once in a few tries it equals sched_getcpu () (the thread may migrate between the two
   reads, so one mismatch proves nothing).  WHO names the thread in messages.  */
__attribute__ ((unused)) static void
farm_check_area_live (const char *who, const void *area)
{
  int cpu_id = farm_rseq_cpu_id (area);
  if (cpu_id < 0)
    FARM_FAIL ("%s: rseq cpu_id is %d: the area at %p is not registered", who, cpu_id,
               area);
  if (cpu_id >= CPU_SETSIZE)
    FARM_FAIL ("%s: rseq cpu_id %d is not a CPU number", who, cpu_id);
  for (int attempt = 0; attempt < 1000; ++attempt)
    {
      int before = farm_rseq_cpu_id (area);
      int cpu = sched_getcpu ();
      if (cpu >= 0 && before == cpu && farm_rseq_cpu_id (area) == cpu)
        {
          printf ("%s: rseq area %p, cpu_id %d matches sched_getcpu\n", who, area, cpu);
          return;
        }
    }
  FARM_FAIL ("%s: rseq cpu_id never matched sched_getcpu in 1000 tries", who);
}

/* The calling thread's area, where glibc put it, is live.  */
__attribute__ ((unused)) static void
farm_check_registered (const char *who)
{
  farm_check_area_live (who, farm_rseq_area ());
}

/* Run CHECK in a new thread glibc creates, as "new thread", and wait for it.  Only cases
   that link -lpthread call it (before 2.34 pthread_create is in libpthread).  */
typedef void (*farm_thread_check) (const char *who);

static void *
farm_thread_trampoline (void *check)
{
  ((farm_thread_check) check) ("new thread");
  return NULL;
}

__attribute__ ((unused)) static void
farm_check_in_new_thread (farm_thread_check check)
{
  pthread_t thread;
  int error = pthread_create (&thread, NULL, farm_thread_trampoline, (void *) check);
  if (error != 0)
    FARM_FAIL ("pthread_create: %s", strerror (error));
  FARM_CHECK (pthread_join (thread, NULL) == 0);
}

/* FAIL unless glibc says it registered the calling thread (UNSUPPORTED where the kernel
   cannot): upstream, __rseq_size is non-zero; in the series, __rseq_handled is 1 (glibc
   owns registration) and glibc's area has a cpu_id.  */
__attribute__ ((unused)) static void
farm_require_glibc_registration (void)
{
# if FARM_RSEQ_ABI == FARM_RSEQ_ABI_UPSTREAM
  printf ("__rseq_size %u, __rseq_offset %ld, __rseq_flags %u\n", __rseq_size,
          (long) __rseq_offset, __rseq_flags);
  if (__rseq_size == 0)
    {
      farm_require_kernel_rseq ();
      FARM_FAIL ("__rseq_size is 0 although the kernel supports rseq: glibc did not "
                 "register (is GLIBC_TUNABLES=glibc.pthread.rseq=0 set?)");
    }
  /* The original struct rseq ABI is 20 bytes of features; glibc reports 20 (the feature
     size, newer releases and backports) or 32 (the area size, upstream 2.35/2.36).  */
  if (__rseq_size < 20)
    FARM_FAIL ("__rseq_size %u is smaller than the original rseq ABI (20)", __rseq_size);
# else
  int cpu_id = farm_rseq_cpu_id (&__rseq_abi);
  printf ("__rseq_handled %d, __rseq_abi at %p, cpu_id %d\n", __rseq_handled,
          (void *) &__rseq_abi, cpu_id);
  if (__rseq_handled != 1)
    FARM_FAIL ("__rseq_handled is %d: glibc did not claim rseq registration",
               __rseq_handled);
  if (cpu_id < 0)
    {
      farm_require_kernel_rseq ();
      FARM_FAIL ("__rseq_abi.cpu_id is %d although the kernel supports rseq: glibc did "
                 "not register (-1: never tried, -2: the kernel refused)", cpu_id);
    }
# endif
}
#endif

/* Whom the kernel holds for the calling thread, found by registering AREA again.  */
enum farm_rseq_holder
{
  FARM_RSEQ_HOLDS_THIS_AREA,  /* EBUSY: AREA is the registered one */
  FARM_RSEQ_HOLDS_OTHER_AREA, /* EINVAL at every length: another area is registered */
  FARM_RSEQ_HOLDS_NOTHING,    /* the registration succeeded (and was undone at once) */
};

/* Which area the kernel holds, asked with AREA (32-aligned) at the lengths glibc
   registers (32 upstream and in the series, more with extended rseq features); with
   FARM_RSEQ_HOLDS_THIS_AREA, *LENGTH is the length that gave EBUSY.  FAILs on any other
   answer (EPERM: registered with another signature).  WHO names the thread.  */
__attribute__ ((unused)) static enum farm_rseq_holder
farm_rseq_kernel_holds (const char *who, void *area, unsigned int *length)
{
  static const unsigned int lengths[] = { 32, 64, 96, 128, 160, 192, 224, 256 };
  for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; ++i)
    {
      if (farm_rseq_syscall (area, lengths[i], 0, FARM_RSEQ_SIG) == 0)
        {
          if (farm_rseq_syscall (area, lengths[i], FARM_RSEQ_FLAG_UNREGISTER, FARM_RSEQ_SIG)
              != 0)
            FARM_FAIL ("%s: undoing the probe registration of %p: %s", who, area,
                       strerror (errno));
          printf ("%s: the kernel held no rseq area (probing with %p registered it)\n", who,
                  area);
          return FARM_RSEQ_HOLDS_NOTHING;
        }
      if (errno == EBUSY)
        {
          *length = lengths[i];
          printf ("%s: the kernel holds %p (EBUSY at length %u)\n", who, area, lengths[i]);
          return FARM_RSEQ_HOLDS_THIS_AREA;
        }
      if (errno != EINVAL)
        FARM_FAIL ("%s: registering %p again (length %u): %s", who, area, lengths[i],
                   strerror (errno));
    }
  printf ("%s: the kernel holds another area than %p (EINVAL at every length)\n", who, area);
  return FARM_RSEQ_HOLDS_OTHER_AREA;
}

#endif /* FARM_RSEQ_UTIL_H */
