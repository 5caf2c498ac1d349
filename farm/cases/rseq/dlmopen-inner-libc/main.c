/* A libc loaded into a dlmopen namespace (LM_ID_NEWLM) has its own copy of everything,
   including, with the v12 series, its TLS __rseq_abi; it must not register that copy for
   a thread the outer libc already registered.  libinner.so reports the inner libc's view;
   checked in the main thread and in a thread the outer libc creates (see ../inner_libc.h
   for what is judged).  */

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
# include <stdlib.h>

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
  void *handle = dlmopen (LM_ID_NEWLM, path, RTLD_NOW);
  if (handle == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM %s: %s", path, dlerror ());
  void *inner_malloc = ((void *(*) (void)) symbol (handle, "farm_inner_malloc")) ();
  printf ("malloc: outer %p, inner %p\n", (void *) &malloc, inner_malloc);
  if (inner_malloc == (void *) &malloc)
    FARM_FAIL ("libinner.so in LM_ID_NEWLM is bound to the outer libc: no second libc");
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
