/* An LD_PRELOAD library records, from its constructor, what it sees of rseq: by then
   glibc must already have registered the main thread (the loader does it before running
   any constructor), which is what tracers that use rseq from a preloaded library rely on.  */

#include "../rseq_util.h"

int farm_preload_ran;
unsigned int farm_preload_rseq_size;
int farm_preload_cpu_id = -100;
void *farm_preload_area;

#if FARM_HAVE_SYS_RSEQ
__attribute__ ((constructor)) static void
preload_init (void)
{
  farm_preload_ran = 1;
  farm_preload_rseq_size = __rseq_size;
  farm_preload_area = farm_rseq_area ();
  farm_preload_cpu_id = (int) farm_rseq_area ()->cpu_id;
}
#endif
