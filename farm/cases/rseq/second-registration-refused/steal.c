/* A library (a tracer, or an old librseq) that registers rseq itself with the raw system
   call, unaware that glibc already did.  The kernel allows one area per thread, so its
   attempt must be refused.  */

#include "../rseq_util.h"

static __thread struct farm_rseq own_area;

/* Try to register the library's own area; returns the syscall result, errno in *ERROR.  */
long
steal_register_own (int *error)
{
  long result = farm_rseq_syscall (&own_area, sizeof own_area, 0, FARM_RSEQ_SIG);
  *error = errno;
  return result;
}
