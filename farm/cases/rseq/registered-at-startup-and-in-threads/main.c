/* glibc registers rseq for the main thread at startup and for every thread it creates:
   glibc says so (upstream: __rseq_size is non-zero; the series: __rseq_handled is 1), and
   each thread's area (upstream: thread pointer + __rseq_offset; the series: its __rseq_abi)
   is a distinct area the kernel holds (EBUSY when registered again) and keeps current
   (cpu_id agrees with sched_getcpu).  Also built -static (rseq/static-executable), where
   libc.a's startup must do the same.  */

#include "../rseq_util.h"

#if FARM_RSEQ_ABI == FARM_RSEQ_ABI_NONE
int
main (void)
{
  farm_require_rseq_abi ();
}
#else

# include <pthread.h>

# define THREADS 4

static void
check_thread (const char *who)
{
  unsigned int length;
  if (farm_rseq_kernel_holds (who, farm_rseq_area (), &length) != FARM_RSEQ_HOLDS_THIS_AREA)
    FARM_FAIL ("%s: the kernel does not hold glibc's rseq area %p", who, farm_rseq_area ());
  farm_check_registered (who);
}

static void *
thread_check (void *argument)
{
  char who[32];
  snprintf (who, sizeof who, "thread %d", (int) (intptr_t) argument);
  check_thread (who);
  return farm_rseq_area ();
}

int
main (void)
{
  farm_require_rseq_abi ();
  farm_require_glibc_registration ();
  check_thread ("main thread");

  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; ++i)
    {
      int error = pthread_create (&threads[i], NULL, thread_check, (void *) (intptr_t) i);
      if (error != 0)
        FARM_FAIL ("pthread_create: %s", strerror (error));
    }
  void *areas[THREADS];
  for (int i = 0; i < THREADS; ++i)
    FARM_CHECK (pthread_join (threads[i], &areas[i]) == 0);
  /* Finished threads' areas may be reused by later threads, so compare each only with the
     main thread's, which coexisted with all of them.  */
  for (int i = 0; i < THREADS; ++i)
    if (areas[i] == farm_rseq_area ())
      FARM_FAIL ("thread %d used the main thread's rseq area", i);
  FARM_PASS ();
}
#endif
