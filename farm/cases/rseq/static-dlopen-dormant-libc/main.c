/* A static executable registers rseq from libc.a; its dlopen of libinner.so brings in
   libc.so.6 (and ld.so) as ordinary objects: a dormant libc that never runs its startup.
   It must not register its own area for the thread libc.a registered: the kernel holds
   libc.a's area, in the main thread and in a new one (see ../inner_libc.h).  */

#include "../inner_libc.h"

#if FARM_RSEQ_ABI == FARM_RSEQ_ABI_NONE
int
main (void)
{
  farm_require_rseq_abi ();
}
#else

# include <dlfcn.h>
# include <pthread.h>

typedef void *(*area_fn) (void);
typedef unsigned int (*claim_fn) (void);

static area_fn inner_area;
static claim_fn inner_claim;

static void *
thread_main (void *unused)
{
  (void) unused;
  farm_check_inner_libc ("new thread", inner_area (), inner_claim ());
  return NULL;
}

static void *
symbol (void *handle, const char *name)
{
  void *address = dlsym (handle, name);
  if (address == NULL)
    FARM_FAIL ("dlsym %s: %s", name, dlerror ());
  return address;
}

int
main (void)
{
  farm_require_rseq_abi ();
  farm_require_glibc_registration ();
  const char *path = farm_path ("libinner.so");
  void *handle = dlopen (path, RTLD_NOW);
  if (handle == NULL)
    FARM_FAIL ("dlopen %s from a static executable: %s", path, dlerror ());
  inner_area = (area_fn) symbol (handle, "farm_inner_rseq_area");
  inner_claim = (claim_fn) symbol (handle, "farm_inner_rseq_claim");

  farm_check_inner_libc ("main thread", inner_area (), inner_claim ());
  pthread_t thread;
  int error = pthread_create (&thread, NULL, thread_main, NULL);
  if (error != 0)
    FARM_FAIL ("pthread_create: %s", strerror (error));
  FARM_CHECK (pthread_join (thread, NULL) == 0);
  FARM_PASS ();
}
#endif
