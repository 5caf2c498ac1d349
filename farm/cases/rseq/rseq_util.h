/* What the rseq/ cases share.  glibc 2.35 started registering an rseq area for every
   thread and exporting where it is: __rseq_offset (from the thread pointer) and
   __rseq_size (0 when glibc did not register) in <sys/rseq.h>.  A glibc without that
   header makes every rseq case UNSUPPORTED, and so does a kernel (or a container's
   seccomp filter) without the rseq system call.  */

#ifndef FARM_RSEQ_UTIL_H
#define FARM_RSEQ_UTIL_H

#include "farm_case.h"

#if __has_include(<sys/rseq.h>)
# include <sys/rseq.h>
# define FARM_HAVE_SYS_RSEQ 1
#else
# define FARM_HAVE_SYS_RSEQ 0
#endif

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_rseq
# if defined __x86_64__
#  define __NR_rseq 334
# elif defined __i386__
#  define __NR_rseq 386
# endif
#endif

#define FARM_NO_SYS_RSEQ \
  "<sys/rseq.h> is missing: this glibc predates rseq registration (2.35)"

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

#if FARM_HAVE_SYS_RSEQ
/* The calling thread's rseq area, where glibc put it.  */
static inline struct rseq *
farm_rseq_area (void)
{
  return (struct rseq *) ((char *) __builtin_thread_pointer () + __rseq_offset);
}

/* FAIL unless the kernel keeps the calling thread's area up to date: cpu_id is a valid CPU
   number, and at least once in a few tries it equals sched_getcpu () (the thread may
   migrate between the two reads, so one mismatch proves nothing).  WHO names the thread
   in messages.  */
__attribute__ ((unused)) static void
farm_check_registered (const char *who)
{
  volatile struct rseq *area = farm_rseq_area ();
  int cpu_id = (int) area->cpu_id;
  if (cpu_id < 0)
    FARM_FAIL ("%s: rseq cpu_id is %d: the area at %p is not registered", who, cpu_id,
               (void *) area);
  if (cpu_id >= CPU_SETSIZE)
    FARM_FAIL ("%s: rseq cpu_id %d is not a CPU number", who, cpu_id);
  for (int attempt = 0; attempt < 1000; ++attempt)
    {
      int before = (int) area->cpu_id;
      int cpu = sched_getcpu ();
      if (cpu >= 0 && before == cpu && (int) area->cpu_id == cpu)
        {
          printf ("%s: rseq area %p, cpu_id %d matches sched_getcpu\n", who, (void *) area,
                  cpu);
          return;
        }
    }
  FARM_FAIL ("%s: rseq cpu_id never matched sched_getcpu in 1000 tries", who);
}

/* When __rseq_size is 0, say why: UNSUPPORTED if the kernel cannot do rseq, else FAIL.  */
__attribute__ ((unused)) static void
farm_require_glibc_registration (void)
{
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
}
#endif

#endif /* FARM_RSEQ_UTIL_H */
