/* LM_ID_NEWLM must give a fresh copy of the object: a counter bumped in the base namespace
   is not seen by the copies in two new namespaces, their variables live at different
   addresses, and dlinfo reports namespaces other than LM_ID_BASE (and different from each
   other).  If dlmopen silently fell back to the base namespace, every check here fails.  */

#include "farm_case.h"

#include <dlfcn.h>
#include <stdio.h>

typedef int (*bump_fn) (void);
typedef int *(*address_fn) (void);

static void *
resolve (void *handle, const char *name)
{
  void *symbol = dlsym (handle, name);
  if (symbol == NULL)
    FARM_FAIL ("dlsym %s: %s", name, dlerror ());
  return symbol;
}

static Lmid_t
lmid_of (void *handle)
{
  Lmid_t lmid;
  if (dlinfo (handle, RTLD_DI_LMID, &lmid) != 0)
    FARM_FAIL ("dlinfo RTLD_DI_LMID: %s", dlerror ());
  return lmid;
}

int
main (void)
{
  const char *path = farm_path ("libstate.so");

  void *base = dlopen (path, RTLD_NOW);
  if (base == NULL)
    FARM_FAIL ("dlopen %s: %s", path, dlerror ());
  void *first = dlmopen (LM_ID_NEWLM, path, RTLD_NOW);
  if (first == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM (first): %s", dlerror ());
  void *second = dlmopen (LM_ID_NEWLM, path, RTLD_NOW);
  if (second == NULL)
    FARM_FAIL ("dlmopen LM_ID_NEWLM (second): %s", dlerror ());

  Lmid_t base_lmid = lmid_of (base), first_lmid = lmid_of (first);
  Lmid_t second_lmid = lmid_of (second);
  printf ("lmids: base %ld, first new %ld, second new %ld\n",
          (long) base_lmid, (long) first_lmid, (long) second_lmid);
  FARM_CHECK (base_lmid == LM_ID_BASE);
  FARM_CHECK (first_lmid != LM_ID_BASE);
  FARM_CHECK (second_lmid != LM_ID_BASE);
  FARM_CHECK (first_lmid != second_lmid);
  FARM_CHECK (first != base && second != base && first != second);

  bump_fn bump_base = (bump_fn) resolve (base, "state_bump");
  bump_fn bump_first = (bump_fn) resolve (first, "state_bump");
  bump_fn bump_second = (bump_fn) resolve (second, "state_bump");
  int *at_base = ((address_fn) resolve (base, "state_counter_address")) ();
  int *at_first = ((address_fn) resolve (first, "state_counter_address")) ();
  int *at_second = ((address_fn) resolve (second, "state_counter_address")) ();
  printf ("counter at: base %p, first %p, second %p\n",
          (void *) at_base, (void *) at_first, (void *) at_second);
  FARM_CHECK (at_base != at_first && at_base != at_second && at_first != at_second);

  bump_base ();
  bump_base ();
  FARM_CHECK (bump_base () == 3);
  int first_value = bump_first ();
  int second_value = bump_second ();
  printf ("after 3 bumps in base: first new namespace counts %d, second %d\n",
          first_value, second_value);
  if (first_value != 1 || second_value != 1)
    FARM_FAIL ("the new namespaces share state with the base one");
  FARM_CHECK (bump_first () == 2);
  FARM_CHECK (*at_base == 3 && *at_first == 2 && *at_second == 1);

  FARM_CHECK (dlclose (second) == 0);
  FARM_CHECK (dlclose (first) == 0);
  FARM_CHECK (dlclose (base) == 0);
  FARM_PASS ();
}
