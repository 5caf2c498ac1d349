/* An LD_PRELOAD library that would use rseq, as tracers do, and follows the ownership
   protocol of the ABI it finds: it may register an area itself only when glibc has not
   claimed the registration (upstream: __rseq_size is 0; the series: __rseq_handled is 0).
   Its constructor records what it saw, for main to judge.  */

#include "../rseq_util.h"

int farm_preload_ran;
int farm_preload_glibc_owns = -1;      /* 1: glibc had claimed registration */
int farm_preload_registered_own = -1;  /* 1: it found no owner and registered its own */
int farm_preload_cpu_id = -100;
void *farm_preload_area;

#if FARM_RSEQ_ABI != FARM_RSEQ_ABI_NONE
static struct farm_rseq own_area;

__attribute__ ((constructor)) static void
preload_init (void)
{
  farm_preload_ran = 1;
# if FARM_RSEQ_ABI == FARM_RSEQ_ABI_UPSTREAM
  farm_preload_glibc_owns = __rseq_size != 0;
# else
  farm_preload_glibc_owns = __rseq_handled != 0;
# endif
  farm_preload_area = farm_rseq_area ();
  farm_preload_cpu_id = farm_rseq_cpu_id (farm_preload_area);
  farm_preload_registered_own = 0;
  if (!farm_preload_glibc_owns
      && farm_rseq_syscall (&own_area, sizeof own_area, 0, FARM_RSEQ_SIG) == 0)
    {
# if FARM_RSEQ_ABI == FARM_RSEQ_ABI_SERIES
      __rseq_handled = 1; /* what the series asks of a library that takes ownership */
# endif
      farm_preload_registered_own = 1;
    }
}
#endif
