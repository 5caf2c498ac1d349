/* libinner.so: loaded where it brings a libc of its own (a dlmopen namespace, a static
   executable's dlopen), it reports the calling thread's rseq area as THAT libc sees it.  */

#include "../rseq_util.h"

#include <stdlib.h>

#if FARM_RSEQ_ABI != FARM_RSEQ_ABI_NONE
void *
farm_inner_rseq_area (void)
{
  return farm_rseq_area ();
}

/* __rseq_size upstream, __rseq_handled in the series, as this namespace resolves it.  */
unsigned int
farm_inner_rseq_claim (void)
{
# if FARM_RSEQ_ABI == FARM_RSEQ_ABI_UPSTREAM
  return __rseq_size;
# else
  return (unsigned int) __rseq_handled;
# endif
}
#endif

/* Shows which libc this object is bound to.  */
void *
farm_inner_malloc (void)
{
  return (void *) &malloc;
}
