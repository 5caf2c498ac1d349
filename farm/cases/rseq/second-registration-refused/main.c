/* While glibc owns the thread's rseq registration, a library's own registration attempt
   must be refused by the kernel, and glibc's registration must survive it:
     - a different area: EINVAL (the kernel has one registration per thread);
     - glibc's own area, length and signature again: EBUSY ("already registered"); the
       length glibc registered is found by trying the plausible ones, which also shows
       which one this glibc uses.
   With the series, a well-behaved library would not even try: __rseq_handled is 1.
   Checked in the main thread and in a new thread.  */

#include "../rseq_util.h"

#if FARM_RSEQ_ABI == FARM_RSEQ_ABI_NONE
int
main (void)
{
  farm_require_rseq_abi ();
}
#else

long steal_register_own (int *error);

static void
check_refused (const char *who)
{
  int error = 0;
  if (steal_register_own (&error) == 0)
    FARM_FAIL ("%s: the kernel accepted a second rseq area for a registered thread", who);
  printf ("%s: registering the library's own area: %s\n", who, strerror (error));
  if (error != EINVAL)
    FARM_FAIL ("%s: expected EINVAL for a different area, got %s", who, strerror (error));

  unsigned int length = 0;
  if (farm_rseq_kernel_holds (who, farm_rseq_area (), &length) != FARM_RSEQ_HOLDS_THIS_AREA)
    FARM_FAIL ("%s: the kernel does not hold glibc's area: is it really registered?", who);
  printf ("%s: glibc's area again: EBUSY (glibc registered %u bytes)\n", who, length);
  farm_check_registered (who);
}

int
main (void)
{
  farm_require_rseq_abi ();
  farm_require_glibc_registration ();
  check_refused ("main thread");
  farm_check_in_new_thread (check_refused);
  FARM_PASS ();
}
#endif
