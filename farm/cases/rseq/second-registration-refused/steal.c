/* A library (a tracer, or an old librseq) that registers rseq itself with the raw system
   call, unaware that glibc already did.  The kernel allows one area per thread, so both
   attempts must be refused.  */

#include "../rseq_util.h"

static __thread struct rseq own_area __attribute__ ((aligned (32)));

/* Try to register the library's own area; returns the syscall result, errno in *ERROR.  */
long
steal_register_own (int *error)
{
  long result = farm_rseq_syscall (&own_area, sizeof own_area, 0, RSEQ_SIG);
  *error = errno;
  return result;
}

/* Try to register AREA (glibc's) again with LENGTH; errno in *ERROR.  */
long
steal_register_again (void *area, unsigned int length, int *error)
{
  long result = farm_rseq_syscall (area, length, 0, RSEQ_SIG);
  *error = errno;
  return result;
}
