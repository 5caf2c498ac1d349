/* `install new.so loaded.so` unlinks the old file and creates a new inode, so the old
   mapping keeps its own (now nameless) file: the process keeps working.  While the old
   object is open, dlopen of the same path matches it by name and returns the old handle,
   still version 1.  Only after the last dlclose does dlopen load version 2.  */

#include "../replace_util.h"

#include <dlfcn.h>
#include <stdio.h>

typedef int (*value_fn) (void);

static value_fn
value_of (void *handle)
{
  value_fn function = (value_fn) dlsym (handle, "victim_value");
  if (function == NULL)
    FARM_FAIL ("dlsym victim_value: %s", dlerror ());
  return function;
}

int
main (void)
{
  const char *path = farm_path ("libvictim.so");
  const char *replacement = farm_path ("libvictim-v2.so");

  void *handle = dlopen (path, RTLD_NOW);
  if (handle == NULL)
    FARM_FAIL ("dlopen %s: %s", path, dlerror ());
  value_fn old_value = value_of (handle);
  FARM_CHECK (old_value () == 1);
  struct stat before = farm_stat (path);

  char *install[] = { (char *) "install", (char *) "-m", (char *) "0755",
                      (char *) replacement, (char *) path, NULL };
  farm_run_command (install);
  struct stat after = farm_stat (path);
  printf ("install done: inode %lu -> %lu\n", (unsigned long) before.st_ino,
          (unsigned long) after.st_ino);
  if (after.st_ino == before.st_ino)
    FARM_FAIL ("install reused the inode; this case needs a new one");

  int value = old_value ();
  printf ("the old object still answers %d\n", value);
  FARM_CHECK (value == 1);
  FARM_CHECK (value_of (handle) () == 1);

  void *again = dlopen (path, RTLD_NOW);
  if (again == NULL)
    FARM_FAIL ("dlopen %s after install: %s", path, dlerror ());
  value = value_of (again) ();
  printf ("dlopen while the old object is open: handle %s, version %d\n",
          again == handle ? "unchanged" : "NEW", value);
  if (again != handle || value != 1)
    FARM_FAIL ("expected the already-loaded object (same handle, version 1)");

  FARM_CHECK (dlclose (again) == 0);
  FARM_CHECK (dlclose (handle) == 0);
  if (dlopen (path, RTLD_NOW | RTLD_NOLOAD) != NULL)
    FARM_FAIL ("the old object is still loaded after its last dlclose");
  void *fresh = dlopen (path, RTLD_NOW);
  if (fresh == NULL)
    FARM_FAIL ("dlopen %s after the last dlclose: %s", path, dlerror ());
  value = value_of (fresh) ();
  printf ("dlopen after the last dlclose: version %d\n", value);
  if (value != 2)
    FARM_FAIL ("expected the new version 2 after the old object was unloaded");
  FARM_PASS ();
}
