/* glibc registers rseq for the main thread at startup and for every thread it creates:
   __rseq_size is non-zero, and the struct rseq at thread pointer + __rseq_offset of each
   thread is a distinct area the kernel keeps current (cpu_id agrees with sched_getcpu).
   Also built -static (rseq/static-executable), where libc.a's startup must do the same.  */

#include "../rseq_util.h"

#if !FARM_HAVE_SYS_RSEQ
int
main (void)
{
  FARM_UNSUPPORTED (FARM_NO_SYS_RSEQ);
}
#else

# include <pthread.h>
# include <string.h>

# define THREADS 4

static void *
thread_check (void *argument)
{
  char who[32];
  snprintf (who, sizeof who, "thread %d", (int) (intptr_t) argument);
  farm_check_registered (who);
  return farm_rseq_area ();
}

int
main (void)
{
  farm_require_glibc_registration ();
  farm_check_registered ("main thread");

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
    if (areas[i] == (void *) farm_rseq_area ())
      FARM_FAIL ("thread %d used the main thread's rseq area", i);
  FARM_PASS ();
}
#endif
