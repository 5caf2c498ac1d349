/* Opening an object again into the namespace that already holds it (by passing that
   namespace's lmid) must find the loaded copy: same handle, same state.  Opening it into
   LM_ID_NEWLM again must not: a different handle, a different namespace, fresh state.  */

#include "farm_case.h"

#include <dlfcn.h>
#include <stdio.h>

typedef int (*bump_fn) (void);

static Lmid_t
lmid_of (void *handle)
{
  Lmid_t lmid;
  if (dlinfo (handle, RTLD_DI_LMID, &lmid) != 0)
    FARM_FAIL ("dlinfo RTLD_DI_LMID: %s", dlerror ());
  return lmid;
}

static bump_fn
bump_of (void *handle)
{
  bump_fn bump = (bump_fn) dlsym (handle, "state_bump");
  if (bump == NULL)
    FARM_FAIL ("dlsym state_bump: %s", dlerror ());
  return bump;
}

int
main (void)
{
  const char *path = farm_path ("libstate.so");

  void *first = dlmopen (LM_ID_NEWLM, path, RTLD_NOW);
  if (first == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM: %s", dlerror ());
  Lmid_t lmid = lmid_of (first);
  FARM_CHECK (lmid != LM_ID_BASE);
  FARM_CHECK (bump_of (first) () == 1);

  void *again = dlmopen (lmid, path, RTLD_NOW);
  if (again == NULL)
    FARM_FAIL ("dlmopen into namespace %ld: %s", (long) lmid, dlerror ());
  printf ("namespace %ld: first handle %p, reopened handle %p\n", (long) lmid, first, again);
  if (again != first)
    FARM_FAIL ("reopening into namespace %ld loaded a second copy", (long) lmid);
  FARM_CHECK (lmid_of (again) == lmid);
  int value = bump_of (again) ();
  if (value != 2)
    FARM_FAIL ("state through the reopened handle is %d, expected 2 (shared)", value);

  /* RTLD_NOLOAD into the same namespace also finds it.  */
  void *probe = dlmopen (lmid, path, RTLD_NOW | RTLD_NOLOAD);
  FARM_CHECK (probe == first);

  void *other = dlmopen (LM_ID_NEWLM, path, RTLD_NOW);
  if (other == NULL)
    FARM_FAIL ("second dlmopen LM_ID_NEWLM: %s", dlerror ());
  Lmid_t other_lmid = lmid_of (other);
  printf ("second LM_ID_NEWLM: handle %p in namespace %ld\n", other, (long) other_lmid);
  FARM_CHECK (other != first);
  FARM_CHECK (other_lmid != lmid && other_lmid != LM_ID_BASE);
  value = bump_of (other) ();
  if (value != 1)
    FARM_FAIL ("state in the second new namespace is %d, expected a fresh 1", value);

  /* One reference per successful open: the first namespace's object survives two of its
     three closes.  */
  FARM_CHECK (dlclose (probe) == 0);
  FARM_CHECK (dlclose (again) == 0);
  FARM_CHECK (dlmopen (lmid, path, RTLD_NOW | RTLD_NOLOAD) == first);
  FARM_CHECK (dlclose (first) == 0); /* the NOLOAD reference just taken */
  FARM_CHECK (bump_of (first) () == 3);
  FARM_CHECK (dlclose (first) == 0);
  FARM_CHECK (dlclose (other) == 0);
  FARM_PASS ();
}
