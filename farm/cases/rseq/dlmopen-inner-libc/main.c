/* A second libc in the process must not register an rseq area for a thread the outer libc
   already registered (see ../inner_libc.h for what is judged).  libinner.so reports the
   inner libc's view; checked in the main thread and in a thread the outer libc creates.

   Built two ways:
   - rseq/dlmopen-inner-libc: dlmopen (LM_ID_NEWLM) gives libinner.so a libc of its own,
     with, in the v12 series, its own TLS __rseq_abi;
   - rseq/static-dlopen-dormant-libc (-DFARM_STATIC_DLOPEN, linked -static): libc.a
     registered, and dlopen brings libc.so.6 and ld.so in as ordinary objects, a dormant
     libc that never runs its startup.  */

#include "../inner_libc.h"

#if FARM_RSEQ_ABI == FARM_RSEQ_ABI_NONE
int
main (void)
{
  farm_require_rseq_abi ();
}
#else

# include <dlfcn.h>
# include <stdlib.h>

typedef void *(*area_fn) (void);
typedef unsigned int (*claim_fn) (void);

static area_fn inner_area;
static claim_fn inner_claim;

static void
check_thread (const char *who)
{
  farm_check_inner_libc (who, inner_area (), inner_claim ());
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
# ifdef FARM_STATIC_DLOPEN
  void *handle = dlopen (path, RTLD_NOW);
  if (handle == NULL)
    FARM_FAIL ("dlopen %s from a static executable: %s", path, dlerror ());
# else
  void *handle = dlmopen (LM_ID_NEWLM, path, RTLD_NOW);
  if (handle == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM %s: %s", path, dlerror ());
# endif
  void *inner_malloc = ((void *(*) (void)) symbol (handle, "farm_inner_malloc")) ();
  printf ("malloc: outer %p, inner %p\n", (void *) &malloc, inner_malloc);
  if (inner_malloc == (void *) &malloc)
    FARM_FAIL ("libinner.so is bound to the outer libc: there is no second libc");
  inner_area = (area_fn) symbol (handle, "farm_inner_rseq_area");
  inner_claim = (claim_fn) symbol (handle, "farm_inner_rseq_claim");

  check_thread ("main thread");
  farm_check_in_new_thread (check_thread);
  FARM_PASS ();
}
#endif
