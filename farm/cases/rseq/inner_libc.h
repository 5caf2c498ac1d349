/* What the inner-libc cases share: a second libc in the process (in a dlmopen namespace,
   in an LD_AUDIT module's namespace, or loaded by a static executable's dlopen) must not
   register an rseq area for a thread the outer libc already registered.

   With the v12 series each libc.so has its own TLS copy of __rseq_abi, so the question is
   real: the kernel must hold the outer libc's area (EBUSY when it is registered again) and
   not the inner one's (EINVAL), and the inner area's cpu_id must still be -1, "never
   registered": -2 would mean the inner libc tried and the kernel refused it, which its
   review asked to avoid.  Upstream (2.35+) the area lives in the thread descriptor and
   ld.so is shared by every namespace, so an inner libc normally sees the outer's area
   itself; where it sees another one (a dormant ld.so's __rseq_offset), it must not claim
   it (__rseq_size 0).  */

#ifndef FARM_RSEQ_INNER_LIBC_H
#define FARM_RSEQ_INNER_LIBC_H

#include "rseq_util.h"

#if FARM_RSEQ_ABI != FARM_RSEQ_ABI_NONE
/* FAIL unless the kernel holds the calling thread's outer area, live, and the inner libc
   (whose view of the calling thread is INNER_AREA, and INNER_CLAIM: __rseq_size upstream,
   __rseq_handled in the series) neither registered nor claims another area.  WHO names
   the thread and the inner libc in messages.  */
__attribute__ ((unused)) static void
farm_check_inner_libc (const char *who, void *inner_area, unsigned int inner_claim)
{
  void *outer_area = farm_rseq_area ();
  printf ("%s: outer libc's area %p, inner libc's area %p, inner %s %u\n", who, outer_area,
          inner_area, FARM_RSEQ_ABI == FARM_RSEQ_ABI_UPSTREAM ? "__rseq_size" : "__rseq_handled",
          inner_claim);
  unsigned int length;
  if (farm_rseq_kernel_holds (who, outer_area, &length) != FARM_RSEQ_HOLDS_THIS_AREA)
    FARM_FAIL ("%s: the kernel does not hold the outer libc's rseq area %p", who,
               outer_area);
  farm_check_area_live (who, outer_area);
  if (inner_area == outer_area)
    {
      FARM_NOTE ("%s: the inner libc uses the outer libc's area (one per thread)", who);
      return;
    }
  if (FARM_RSEQ_ABI == FARM_RSEQ_ABI_UPSTREAM && inner_claim != 0)
    FARM_FAIL ("%s: the inner libc claims an rseq area (__rseq_size %u) at %p that the "
               "kernel does not hold", who, inner_claim, inner_area);
  /* Upstream, another area is tp + a dormant ld.so's __rseq_offset: not glibc's to
     write, so its cpu_id means nothing and only the kernel's answer below counts.  */
  if (FARM_RSEQ_ABI == FARM_RSEQ_ABI_SERIES)
    {
      int inner_cpu_id = farm_rseq_cpu_id (inner_area);
      printf ("%s: the inner libc's __rseq_abi.cpu_id is %d\n", who, inner_cpu_id);
      if (inner_cpu_id == -2)
        FARM_FAIL ("%s: the inner libc tried to register its own area (cpu_id -2, "
                   "RSEQ_CPU_ID_REGISTRATION_FAILED) for a thread already registered", who);
      if (inner_cpu_id != -1)
        FARM_FAIL ("%s: the inner libc's area has cpu_id %d, not -1 (never registered)", who,
                   inner_cpu_id);
    }
  if (farm_rseq_kernel_holds (who, inner_area, &length) != FARM_RSEQ_HOLDS_OTHER_AREA)
    FARM_FAIL ("%s: the kernel holds the inner libc's area %p", who, inner_area);
}
#endif

#endif /* FARM_RSEQ_INNER_LIBC_H */
