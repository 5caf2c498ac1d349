/* Run with LD_PRELOAD=./libpreload.so.  Registration ownership is settled before any
   LD_PRELOAD constructor runs: the preloaded library's constructor must find that glibc
   owns it (upstream: __rseq_size non-zero; the series: __rseq_handled 1), so it leaves the
   registration alone, and the area it saw must be the one main's thread has registered.

   Upstream, ld.so registers before constructors run, so the constructor already sees a
   live cpu_id.  The series registers the main thread only in __libc_start_main, after
   the LD_PRELOAD constructors (its v11 notes chose that order), so there the constructor
   sees the area unregistered (cpu_id -1): reported, not judged.  */

#include "../rseq_util.h"

#if FARM_RSEQ_ABI == FARM_RSEQ_ABI_NONE
int
main (void)
{
  farm_require_rseq_abi ();
}
#else

# include <dlfcn.h>

static void *
preload_symbol (const char *name)
{
  void *symbol = dlsym (RTLD_DEFAULT, name);
  if (symbol == NULL)
    FARM_FAIL ("%s not found: libpreload.so was not preloaded (LD_PRELOAD unset?)", name);
  return symbol;
}

int
main (void)
{
  farm_require_rseq_abi ();
  int ran = *(int *) preload_symbol ("farm_preload_ran");
  int glibc_owns = *(int *) preload_symbol ("farm_preload_glibc_owns");
  int registered_own = *(int *) preload_symbol ("farm_preload_registered_own");
  int cpu_id = *(int *) preload_symbol ("farm_preload_cpu_id");
  void *area = *(void **) preload_symbol ("farm_preload_area");
  printf ("preload constructor: ran %d, glibc owns rseq %d, registered its own %d, "
          "cpu_id %d, area %p\n", ran, glibc_owns, registered_own, cpu_id, area);
  if (!ran)
    FARM_FAIL ("the preloaded library's constructor did not run");
  if (registered_own == 1)
    FARM_FAIL ("glibc had not claimed rseq when the LD_PRELOAD constructor ran, so the "
               "library registered its own area");
  farm_require_glibc_registration ();
  if (!glibc_owns)
    FARM_FAIL ("glibc had not claimed rseq registration when the LD_PRELOAD constructor "
               "ran");
  if (area != farm_rseq_area ())
    FARM_FAIL ("the preload constructor saw a different rseq area (%p) than main (%p)",
               area, farm_rseq_area ());
# if FARM_RSEQ_ABI == FARM_RSEQ_ABI_UPSTREAM
  if (cpu_id < 0)
    FARM_FAIL ("the preload constructor ran before rseq registration (cpu_id %d)", cpu_id);
# else
  FARM_NOTE ("the series registers after LD_PRELOAD constructors: they saw cpu_id %d",
             cpu_id);
# endif
  unsigned int length;
  if (farm_rseq_kernel_holds ("main thread", farm_rseq_area (), &length)
      != FARM_RSEQ_HOLDS_THIS_AREA)
    FARM_FAIL ("the kernel does not hold glibc's area");
  farm_check_registered ("main thread");
  FARM_PASS ();
}
#endif
