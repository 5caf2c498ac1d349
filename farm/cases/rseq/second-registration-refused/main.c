/* While glibc owns the thread's rseq registration, a library's own registration attempts
   must be refused by the kernel, and glibc's registration must survive them:
     - a different area: EINVAL (the kernel has one registration per thread);
     - glibc's own area, length and signature again: EBUSY ("already registered"); the
       length glibc registered is found by trying the plausible ones, which also shows
       which one this glibc uses.
   Checked in the main thread and in a new thread.  */

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

long steal_register_own (int *error);
long steal_register_again (void *area, unsigned int length, int *error);

static void
check_refused (const char *who)
{
  int error = 0;
  if (steal_register_own (&error) == 0)
    FARM_FAIL ("%s: the kernel accepted a second rseq area for a registered thread", who);
  printf ("%s: registering the library's own area: %s\n", who, strerrorname_np (error));
  if (error != EINVAL)
    FARM_FAIL ("%s: expected EINVAL for a different area, got %s", who, strerror (error));

  unsigned int lengths[] = { __rseq_size, 32, 64, 96, 128, 160, 192, 224, 256 };
  unsigned int busy_length = 0;
  for (size_t i = 0; i < sizeof lengths / sizeof lengths[0] && busy_length == 0; ++i)
    {
      if (steal_register_again (farm_rseq_area (), lengths[i], &error) == 0)
        FARM_FAIL ("%s: the kernel accepted glibc's area a second time", who);
      if (error == EBUSY)
        busy_length = lengths[i];
      else if (error != EINVAL)
        FARM_FAIL ("%s: re-registering glibc's area (length %u): %s", who, lengths[i],
                   strerror (error));
    }
  if (busy_length == 0)
    FARM_FAIL ("%s: no length gave EBUSY for glibc's area: is it really registered?", who);
  printf ("%s: glibc's area again: EBUSY (glibc registered %u bytes)\n", who, busy_length);
  farm_check_registered (who);
}

static void *
thread_main (void *unused)
{
  (void) unused;
  check_refused ("new thread");
  return NULL;
}

int
main (void)
{
  farm_require_glibc_registration ();
  check_refused ("main thread");
  pthread_t thread;
  int error = pthread_create (&thread, NULL, thread_main, NULL);
  if (error != 0)
    FARM_FAIL ("pthread_create: %s", strerror (error));
  FARM_CHECK (pthread_join (thread, NULL) == 0);
  FARM_PASS ();
}
#endif
