/* dlopen reference counting, observed from outside: the same file opened twice, and once
   more through a symlink (the loader recognises the file by device and inode), is one
   object with one handle whose constructor ran once.  RTLD_NOLOAD answers "is it still
   mapped?" after each dlclose; the destructor runs at the last one, not before.  */

#include "farm_case.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int destructor_runs;

static void
on_destructor (const char *name)
{
  (void) name;
  ++destructor_runs;
}

static int
still_mapped (const char *path)
{
  void *handle = dlopen (path, RTLD_NOW | RTLD_NOLOAD);
  if (handle != NULL)
    FARM_CHECK (dlclose (handle) == 0); /* NOLOAD took a reference too */
  return handle != NULL;
}

int
main (void)
{
  const char *path = farm_path ("liblife.so");
  const char *alias = farm_path ("alias-of-liblife.so");
  if (unlink (alias) != 0 && errno != ENOENT)
    FARM_FAIL ("unlink %s: %s", alias, strerror (errno));
  if (symlink (path, alias) != 0)
    FARM_FAIL ("symlink %s: %s", alias, strerror (errno));

  if (still_mapped (path))
    FARM_FAIL ("RTLD_NOLOAD found liblife.so before anything opened it");

  void *first = dlopen (path, RTLD_NOW);
  if (first == NULL)
    FARM_FAIL ("dlopen %s: %s", path, dlerror ());
  void *second = dlopen (path, RTLD_NOW);
  void *third = dlopen (alias, RTLD_NOW);
  if (second == NULL || third == NULL)
    FARM_FAIL ("dlopen again: %s", dlerror ());
  printf ("handles: %p %p %p (the last through a symlink)\n", first, second, third);
  if (second != first)
    FARM_FAIL ("the second dlopen of the same path gave a different handle");
  if (third != first)
    FARM_FAIL ("dlopen through a symlink loaded the file a second time");

  ((void (*) (void (*) (const char *))) dlsym (first, "lifecycle_set_destructor_hook"))
    (on_destructor);
  int runs = ((int (*) (void)) dlsym (first, "lifecycle_constructor_runs")) ();
  if (runs != 1)
    FARM_FAIL ("the constructor ran %d times for one object", runs);

  FARM_CHECK (dlclose (third) == 0);
  FARM_CHECK (dlclose (second) == 0);
  if (!still_mapped (path) || destructor_runs != 0)
    FARM_FAIL ("unloaded while a reference was still open (destructor runs: %d)",
               destructor_runs);
  puts ("after 2 of 3 dlclose: still mapped, destructor not run");

  FARM_CHECK (dlclose (first) == 0);
  if (destructor_runs != 1)
    FARM_FAIL ("the destructor ran %d times at the last dlclose, expected once",
               destructor_runs);
  if (still_mapped (path))
    FARM_FAIL ("RTLD_NOLOAD still finds liblife.so after the last dlclose");
  puts ("after the last dlclose: destructor ran once, RTLD_NOLOAD finds nothing");
  FARM_PASS ();
}
